"""Total parsers for the header fields the cache reads.

House rule: every function here accepts any string (garbage, duplicates joined
with ``", "``, non-ASCII, huge numbers) and returns a safe value. Nothing in this
module raises on input from the network.
"""

from __future__ import annotations

import calendar
import functools
import re
import time
from typing import Iterable, Optional

from ._sf import SFToken, parse_sf_dictionary

__all__ = [
    "Headers",
    "DELTA_SECONDS_MAX",
    "parse_cache_control",
    "split_list",
    "parse_delta_seconds",
    "parse_age",
    "parse_http_date",
    "parse_field_names",
    "parse_etags",
    "etag_weak_match",
    "etag_strong_match",
    "parse_range",
    "parse_content_range",
    "parse_sf_dictionary",
    "parse_targeted_cache_control",
    "SFToken",
]

#: RFC 9111 §1.2.2: a delta-seconds too large to represent is taken as 2^31.
DELTA_SECONDS_MAX = 2147483648


class Headers:
    """An immutable, case-insensitive view of header field lines.

    Keeps every field line in order (``Set-Cookie`` twice stays twice); ``get``
    joins repeated lines with ``", "`` as RFC 9110 §5.3 allows for list fields.
    What the policy reads of a stored response or a request is parsed once, when
    that is built (``models.StoredFacts``, ``models.RequestFacts``), not kept here.
    """

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple((str(k), str(v)) for k, v in items)
        self._index = _index_of(self._items)

    @classmethod
    def of_lines(cls, lines: tuple[tuple[str, str], ...]) -> Headers:
        """Headers of ``lines`` whose names and values are known to be ``str`` (decoded from
        the storage format, which checked them): nothing converted."""
        headers = cls.__new__(cls)
        headers._items = lines
        headers._index = _index_of(lines)
        return headers

    def items(self) -> tuple[tuple[str, str], ...]:
        """Every field line, in order, with its original name."""
        return self._items

    def get(self, name: str) -> Optional[str]:
        values = self._index.get(name.lower())
        if values is None:
            return None
        return values[0] if len(values) == 1 else ", ".join(values)

    def get_all(self, name: str) -> list[str]:
        return list(self._index.get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def has_any(self, names: frozenset[str]) -> bool:
        """Is any of ``names`` (lower-cased) here?"""
        return not self._index.keys().isdisjoint(names)

    def combined(self, leave_out: str = "") -> dict[str, tuple[str, str]]:
        """A new dict: each field's lower-cased name -> (its first original name, its values
        joined with ``", "``), RFC 9110 §5.3, in first-seen order; without ``leave_out``
        (a lower-cased name)."""
        if len(self._index) == len(self._items):  # no field on several lines: the lines as they are
            combined = dict(zip(self._index, self._items))
        else:
            combined = {}
            for name, value in self._items:
                low = name.lower()
                seen = combined.get(low)
                combined[low] = (name, value) if seen is None else (seen[0], f"{seen[1]}, {value}")
        if leave_out:
            combined.pop(leave_out, None)
        return combined

    def without(self, names: Iterable[str]) -> Headers:
        """A copy without the named fields (names compared case-insensitively)."""
        drop = {n.lower() for n in names}
        if not drop & self._index.keys():
            return self
        return Headers((k, v) for k, v in self._items if k.lower() not in drop)

    def replaced(self, other: Headers, keep: Iterable[str] = ()) -> Headers:
        """Fields of ``other`` replace the same-named fields here, except ``keep``."""
        keep_set = {n.lower() for n in keep}
        incoming = [(k, v) for k, v in other._items if k.lower() not in keep_set]
        replaced_names = {k.lower() for k, _ in incoming}
        kept = [(k, v) for k, v in self._items if k.lower() not in replaced_names]
        return Headers(kept + incoming)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


def _index_of(lines: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for name, value in lines:
        low = name.lower()
        values = index.get(low)
        if values is None:
            index[low] = [value]
        else:
            values.append(value)
    return index


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def split_list(value: str) -> list[str]:
    """Split a comma-separated list, honouring quoted strings (RFC 9110 §5.6.1)."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = False
    escaped = False
    for ch in value:
        if in_quotes:
            current.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
            current.append(ch)
        elif ch == ",":
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_cache_control(value: Optional[str]) -> dict[str, Optional[str]]:
    """Parse Cache-Control (RFC 9111 §5.2) into ``{directive: argument-or-None}``.

    Directive names are case-insensitive and lower-cased. Arguments may be tokens
    or quoted strings (§5.2: recipients accept both). When a directive repeats,
    the first occurrence wins (§4.2.1 allows "the first occurrence").
    Malformed members are skipped.
    """
    result: dict[str, Optional[str]] = {}
    if not value:
        return result
    for member in split_list(value):
        name, sep, arg = member.partition("=")
        name = name.strip().lower()
        if not name or any(c not in _TOKEN_CHARS for c in name):
            continue
        if name in result:
            continue
        result[name] = _unquote(arg) if sep else None
    return result


def parse_delta_seconds(value: Optional[str]) -> Optional[int]:
    """RFC 9111 §1.2.2 delta-seconds: digits only; overflow clamps to 2^31; else None."""
    if value is None:
        return None
    value = value.strip()
    if not value or not value.isascii() or not value.isdigit():
        return None
    value = value.lstrip("0") or "0"
    if len(value) > 10:
        return DELTA_SECONDS_MAX
    return min(int(value), DELTA_SECONDS_MAX)


def parse_age(value: Optional[str]) -> Optional[int]:
    """RFC 9111 §5.1: an Age field value as delta-seconds; None when absent or ignored.

    "A cache encountering a message with a list-based Age field value SHOULD use the
    first member of the field value, discarding subsequent ones. If the field value
    (after discarding additional members, as per above) is invalid (e.g., it contains
    something other than a non-negative integer), a cache SHOULD ignore the field."
    Several Age lines are one list (RFC 9110 §5.3, as ``Headers.get`` joins them); empty
    members are skipped (§5.6.1).
    """
    if value is None:
        return None
    for member in value.split(","):
        if member.strip():
            return parse_delta_seconds(member)
    return None


_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LONG_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# RFC 9110 §5.6.7: IMF-fixdate, obsolete RFC 850 date, asctime date. RFC 9111 §4.2: a cache
# recipient SHOULD match them case-insensitively (``gMT`` as ``GMT``; day and month names
# are compared lower-cased below) and SHOULD take a zone other than GMT (``UTC``) as invalid.
_IMF = re.compile(r"^([A-Za-z]{3}), (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) [Gg][Mm][Tt]$", re.ASCII)
_RFC850 = re.compile(r"^([A-Za-z]{6,9}), (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) [Gg][Mm][Tt]$", re.ASCII)
_ASCTIME = re.compile(r"^([A-Za-z]{3}) ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$", re.ASCII)


def _to_timestamp(year: int, month: int, day: int, hh: int, mm: int, ss: int) -> Optional[float]:
    if not (1 <= month <= 12 and hh <= 23 and mm <= 59 and ss <= 60):
        return None
    try:
        if not 1 <= day <= calendar.monthrange(year, month)[1]:
            return None
        return float(calendar.timegm((year, month, day, hh, mm, min(ss, 59), 0, 0, 0)))
    except (ValueError, OverflowError):
        return None


def parse_http_date(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Parse an HTTP-date (RFC 9110 §5.6.7) to a POSIX timestamp, or None if invalid.

    All three formats are accepted, without regard to case (RFC 9111 §4.2: ``gMT``,
    ``THU``, ``AUG``); a zone other than GMT is invalid (§4.2). RFC 850 two-digit years
    are placed within 50 years of ``now`` as §5.6.7 requires. Without ``now`` (where only
    the validity of a date matters) this reads no clock: they are placed as POSIX
    ``strptime`` places ``%y``, 69-99 in 1969-1999 and 00-68 in 2000-2068.
    """
    if not value:
        return None
    matched, timestamp = _parse_fixed_date(value)
    if matched:
        return timestamp
    value = value.strip()
    m = _RFC850.match(value)
    if m:
        if m.group(1).lower() not in _LONG_DAYS:
            return None
        month = _MONTHS.get(m.group(3).lower())
        if month is None:
            return None
        yy = int(m.group(4))
        if now is None:
            year = 1900 + yy if yy >= 69 else 2000 + yy
        else:
            this_year = _year_of(now)
            year = (this_year // 100) * 100 + yy
            if year > this_year + 50:
                year -= 100
        return _to_timestamp(year, month, int(m.group(2)), int(m.group(5)), int(m.group(6)), int(m.group(7)))
    return None


@functools.lru_cache(maxsize=1024)
def _parse_fixed_date(value: str) -> tuple[bool, Optional[float]]:
    """The formats that need no clock (IMF-fixdate, asctime), memoised:
    ``(True, timestamp or None)``, or ``(False, None)`` when the value is in neither
    format (it may be an RFC 850 date)."""
    value = value.strip()
    if len(value) > 64:
        return True, None
    m = _IMF.match(value)
    if m:
        if m.group(1).lower() not in _DAYS:
            return True, None
        month = _MONTHS.get(m.group(3).lower())
        if month is None:
            return True, None
        return True, _to_timestamp(
            int(m.group(4)), month, int(m.group(2)), int(m.group(5)), int(m.group(6)), int(m.group(7))
        )
    m = _ASCTIME.match(value)
    if m:
        if m.group(1).lower() not in _DAYS:
            return True, None
        month = _MONTHS.get(m.group(2).lower())
        if month is None:
            return True, None
        day, hh, mm, ss = int(m.group(3)), int(m.group(4)), int(m.group(5)), int(m.group(6))
        return True, _to_timestamp(int(m.group(7)), month, day, hh, mm, ss)
    return False, None


def _year_of(ts: float) -> int:
    try:
        return time.gmtime(ts).tm_year
    except (OverflowError, ValueError, OSError):
        return 1970


def parse_field_names(value: Optional[str]) -> list[str]:
    """A list of field names (Vary, Connection, no-cache="..."), lower-cased; ``*`` kept."""
    if not value:
        return []
    names: list[str] = []
    for part in value.split(","):
        name = part.strip().strip('"').strip().lower()
        if name and (name == "*" or all(c in _TOKEN_CHARS for c in name)) and name not in names:
            names.append(name)
    return names


def parse_etags(value: Optional[str]) -> list[str]:
    """Entity tags of an If-None-Match / ETag value (RFC 9110 §8.8.3), ``*`` kept."""
    if not value:
        return []
    value = value.strip()
    if value == "*":
        return ["*"]
    return re.findall(r'(?:W/)?"[^"]*"', value)


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def etag_weak_match(a: str, b: str) -> bool:
    """RFC 9110 §8.8.3.2 weak comparison."""
    return _opaque(a.strip()) == _opaque(b.strip())


def etag_strong_match(a: str, b: str) -> bool:
    """RFC 9110 §8.8.3.2 strong comparison: both strong and identical."""
    a, b = a.strip(), b.strip()
    return not a.startswith("W/") and a == b


_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$", re.ASCII)
_CONTENT_RANGE = re.compile(r"^bytes ([0-9]+)-([0-9]+)/([0-9]+|\*)$", re.ASCII)


def parse_range(value: Optional[str]) -> Optional[tuple[Optional[int], Optional[int]]]:
    """One byte range of a Range field (RFC 9110 §14.1.2) as ``(first, last)``: ``(5, None)``
    for ``bytes=5-``, ``(None, 5)`` for the suffix ``bytes=-5``. None for anything else
    (several ranges, other units, garbage)."""
    if not value:
        return None
    m = _RANGE.match(value.strip().replace(" ", ""))
    if not m or len(value) > 64:
        return None
    first = int(m.group(1)) if m.group(1) else None
    last = int(m.group(2)) if m.group(2) else None
    if first is None and last is None:
        return None
    if first is not None and last is not None and last < first:
        return None
    return first, last


def parse_content_range(value: Optional[str]) -> Optional[tuple[int, int, Optional[int]]]:
    """A Content-Range (RFC 9110 §14.4) as ``(first, last, complete_length or None)``."""
    if not value or len(value) > 96:
        return None
    m = _CONTENT_RANGE.match(value.strip())
    if not m:
        return None
    first, last = int(m.group(1)), int(m.group(2))
    length = None if m.group(3) == "*" else int(m.group(3))
    if last < first or (length is not None and last >= length):
        return None
    return first, last, length


# ---------------------------------------------------------------------------
# Targeted cache-control fields (RFC 9213), read as RFC 8941 Structured Field
# Dictionaries by ``_sf``.


#: Directives whose argument is an Integer (delta-seconds), or a String (field names).
_SF_INTEGER_DIRECTIVES = frozenset({"max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"})
_SF_STRING_DIRECTIVES = frozenset({"no-cache", "private"})


@functools.lru_cache(maxsize=256)
def parse_targeted_cache_control(value: Optional[str]) -> Optional[dict[str, Optional[str]]]:
    """A targeted cache-control field (RFC 9213 §2.1) in ``parse_cache_control``'s shape,
    or None when it is empty or not a valid Dictionary ("that field MUST be ignored").

    Boolean true is a directive without argument, a Boolean false one is not set. An
    argument of the type its directive takes (an Integer for ``max-age`` and the other
    delta-seconds, a String for the field names of ``no-cache`` and ``private``; for
    extensions, any Token, String or Integer) is kept as text. Any other is not consumed
    ("SHOULD NOT consume", §2.1: ``max-age=1.5`` is never rounded) and becomes an empty,
    invalid argument: a ``max-age`` that makes the response stale (as RFC 9111 §4.2.1
    has it for Cache-Control), an unqualified ``no-cache``. Parameters are ignored (§2.1)."""
    members = parse_sf_dictionary(value)
    if not members:
        return None
    result: dict[str, Optional[str]] = {}
    for name, (item, _params) in members.items():
        if item is True or item is False:
            if item:
                result[name] = None
            continue
        if name in _SF_INTEGER_DIRECTIVES:
            typed = isinstance(item, int)
        elif name in _SF_STRING_DIRECTIVES:
            typed = isinstance(item, str) and not isinstance(item, SFToken)
        else:
            typed = isinstance(item, (str, int))
        result[name] = str(item) if typed else ""
    return result
