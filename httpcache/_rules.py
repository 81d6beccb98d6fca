"""The user's opt-in overrides, as values built once with the options: expiry rules by URL
pattern (``urls_expire_after``), the lifetime values they take, the modes, and the
redaction of ignored parameters. Pure: no I/O, no clock. The rules that *apply* them live
in the policy (``_overrides``); here they are only validated and compiled.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping, NamedTuple, Optional, Pattern, Sequence, Union
from urllib.parse import unquote_plus

from .exceptions import HTTPCacheError

__all__ = [
    "DO_NOT_CACHE",
    "MODES",
    "Force",
    "UrlRule",
    "UrlRulesArg",
    "compile_rules",
    "lifetime_seconds",
    "match_rule",
    "redact_query",
]


class _DoNotCache:
    """The value of a URL rule that keeps matching responses out of the cache."""

    _instance: Optional[_DoNotCache] = None

    def __new__(cls) -> _DoNotCache:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DO_NOT_CACHE"

    def __reduce__(self) -> str:
        return "DO_NOT_CACHE"


#: A ``urls_expire_after`` value: responses for matching URLs are never stored.
DO_NOT_CACHE = _DoNotCache()


@dataclass(frozen=True)
class Force:
    """A ``urls_expire_after`` value: store responses for matching URLs and treat them as
    fresh for ``lifetime`` seconds (a number or a ``timedelta``) whatever their own
    Cache-Control, Expires or Pragma say (``no-store``, ``no-cache``, ``private`` included).
    In a private cache the credentials still separate entries (RFC 9111 §4.1)."""

    lifetime: Union[float, timedelta]

    def __post_init__(self) -> None:
        object.__setattr__(self, "lifetime", lifetime_seconds(self.lifetime, "Force(lifetime)"))


#: What a URL rule may say: a lifetime (seconds or timedelta) for responses without
#: explicit freshness, ``Force(lifetime)``, or ``DO_NOT_CACHE``.
RuleValue = Union[float, int, timedelta, Force, _DoNotCache]
#: ``urls_expire_after`` as given: a mapping (first match wins, in its order) or pairs.
#: (Typed loosely: a literal mixing ``Force`` and numbers is inferred as ``dict[str, object]``;
#: every pattern and value is checked when the options are built.)
UrlRulesArg = Union[Mapping[Any, Any], Sequence[tuple[Any, Any]]]


class UrlRule(NamedTuple):
    """One compiled rule: the matcher, and what it says (``lifetime``: seconds, or None with
    ``never``; ``force``: headers ignored)."""

    regex: Pattern[str]
    glob: bool
    with_scheme: bool
    lifetime: Optional[float]
    force: bool
    never: bool


def lifetime_seconds(value: object, option: str) -> float:
    """A lifetime given as seconds or a ``timedelta``, as seconds (>= 0)."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise HTTPCacheError(f"{option} must be a number of seconds or a timedelta, not {value!r}")
    if not 0 <= seconds < math.inf:  # NaN too
        raise HTTPCacheError(
            f"{option} must be a finite number of seconds >= 0, not {value!r} (for 'never expires', "
            "give a long lifetime such as timedelta(days=3650))"
        )
    return seconds


def _glob(pattern: str) -> tuple[Pattern[str], bool]:
    """A glob as requests-cache reads one: matched as a prefix of the URL; without a
    scheme, against the URL without its scheme."""
    with_scheme = "://" in pattern
    return re.compile(fnmatch.translate(pattern.rstrip("*") + "*"), re.DOTALL), with_scheme


def compile_rules(rules: object) -> tuple[tuple[object, object], ...]:
    """``urls_expire_after`` checked and normalised to hashable (pattern, value) pairs,
    in order (the first match wins)."""
    if isinstance(rules, Mapping):
        pairs = list(rules.items())
    elif isinstance(rules, (list, tuple)):
        pairs = list(rules)
        if not all(isinstance(pair, tuple) and len(pair) == 2 for pair in pairs):
            raise HTTPCacheError("urls_expire_after must be a mapping or a sequence of (pattern, value) pairs")
    else:
        raise HTTPCacheError("urls_expire_after must be a mapping or a sequence of (pattern, value) pairs")
    out: list[tuple[object, object]] = []
    for pattern, value in pairs:
        if not isinstance(pattern, (str, re.Pattern)) or (isinstance(pattern, str) and not pattern):
            raise HTTPCacheError(f"urls_expire_after: a pattern is a glob string or re.compile(...), not {pattern!r}")
        if not isinstance(value, (Force, _DoNotCache)):
            value = lifetime_seconds(value, f"urls_expire_after[{pattern!r}]")
        out.append((pattern, value))
    return tuple(out)


def url_rules(pairs: tuple[tuple[object, object], ...]) -> tuple[UrlRule, ...]:
    """The normalised pairs of ``compile_rules``, compiled (once, with the options)."""
    compiled: list[UrlRule] = []
    for pattern, value in pairs:
        if isinstance(pattern, str):
            regex, with_scheme = _glob(pattern)
            glob = True
        else:
            regex, with_scheme, glob = pattern, True, False  # type: ignore[assignment]
        if isinstance(value, _DoNotCache):
            compiled.append(UrlRule(regex, glob, with_scheme, None, False, True))
        elif isinstance(value, Force):
            compiled.append(UrlRule(regex, glob, with_scheme, float(value.lifetime), True, False))  # type: ignore[arg-type]
        else:
            compiled.append(UrlRule(regex, glob, with_scheme, float(value), False, False))  # type: ignore[arg-type]
    return tuple(compiled)


def match_rule(rules: tuple[UrlRule, ...], url: str) -> Optional[UrlRule]:
    """The first rule matching ``url`` (a glob against the URL, or without its scheme when
    the glob has none; a regular expression searched in the whole URL)."""
    bare = url.split("://", 1)[-1]
    for rule in rules:
        if not rule.glob:
            if rule.regex.search(url) is not None:
                return rule
        elif rule.regex.match(url if rule.with_scheme else bare) is not None:
            return rule
    return None


#: The modes (``CacheOptions.mode``, ``httpcache.settings(mode=...)``).
MODES = frozenset({"default", "refresh", "force-refresh", "only-if-cached", "offline", "read-only", "disabled"})


def redact_query(url: str, names: frozenset[str]) -> str:
    """``url`` without the query parameters named in ``names`` (the others kept as they
    were written, in order)."""
    base, sep, rest = url.partition("?")
    if not sep:
        return url
    query, hashsign, fragment = rest.partition("#")
    kept = [part for part in query.split("&") if unquote_plus(part.partition("=")[0]) not in names]
    new = base + ("?" + "&".join(kept) if kept else "")
    return new + hashsign + fragment
