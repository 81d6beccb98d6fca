"""Structured Field Dictionaries (RFC 8941 §3.2), parsed strictly as §4.2 says.

Read for the targeted cache-control fields of RFC 9213 (CDN-Cache-Control), which
``_headers.parse_targeted_cache_control`` maps onto Cache-Control's shape. Total like
``_headers``: any string in, a value or None out; nothing raises on network input.
"""

from __future__ import annotations

import base64
import binascii
from typing import Optional, Union

__all__ = ["SFToken", "SFBareItem", "SFParams", "SFMember", "parse_sf_dictionary"]


class SFToken(str):
    """A Structured Field Token (RFC 8941 §3.3.4), told apart from a String (§3.3.3)."""

    __slots__ = ()


#: Integer (int), Decimal (float), String (str), Token (SFToken), Byte Sequence, Boolean.
SFBareItem = Union[int, float, str, bytes, bool]
SFParams = dict[str, SFBareItem]
#: A member: an Item, or an Inner List (a tuple of Items), with its parameters.
SFMember = tuple[Union[SFBareItem, tuple[tuple[SFBareItem, SFParams], ...]], SFParams]

_LCALPHA = frozenset("abcdefghijklmnopqrstuvwxyz")
_ALPHA = _LCALPHA | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_SF_KEY_CHARS = _LCALPHA | _DIGITS | frozenset("_-.*")
#: RFC 9110 §5.6.2 tchar (``_headers``' token characters), which a Token (RFC 8941 §3.3.4) extends.
_TCHAR = _ALPHA | _DIGITS | frozenset("!#$%&'*+-.^_`|~")
_SF_TOKEN_CHARS = _TCHAR | frozenset(":/")
_BASE64_CHARS = _ALPHA | _DIGITS | frozenset("+/=")


class _SFError(Exception):
    """Any parse failure: the whole field is then invalid (RFC 8941 §4.2)."""


class _SFParser:
    """RFC 8941 §4.2's algorithms over one field value, strictly."""

    __slots__ = ("i", "s")

    def __init__(self, s: str) -> None:
        self.s, self.i = s, 0

    def _peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def _take(self) -> str:
        c = self._peek()
        if not c:
            raise _SFError
        self.i += 1
        return c

    def _skip(self, chars: frozenset[str]) -> None:
        while self._peek() in chars:
            self.i += 1

    def dictionary(self) -> dict[str, SFMember]:
        """§4.2.2; a repeated key takes the last value."""
        members: dict[str, SFMember] = {}
        while self._peek():
            key = self._key()
            if self._peek() == "=":
                self.i += 1
                members[key] = self._item_or_inner_list()
            else:
                members[key] = (True, self._parameters())
            self._skip(_OWS)
            if not self._peek():
                break
            if self._take() != ",":
                raise _SFError
            self._skip(_OWS)
            if not self._peek():
                raise _SFError  # a trailing comma
        return members

    def _item_or_inner_list(self) -> SFMember:
        if self._peek() != "(":
            return self._bare_item(), self._parameters()
        self.i += 1  # §4.2.1.2 Inner List
        items: list[tuple[SFBareItem, SFParams]] = []
        while True:
            self._skip(_SP)
            if self._peek() == ")":
                self.i += 1
                return tuple(items), self._parameters()
            items.append((self._bare_item(), self._parameters()))
            if self._peek() not in (" ", ")"):
                raise _SFError  # also the end of the input: an unclosed list

    def _parameters(self) -> SFParams:
        """§4.2.3.2"""
        params: SFParams = {}
        while self._peek() == ";":
            self.i += 1
            self._skip(_SP)
            key = self._key()
            params[key] = True
            if self._peek() == "=":
                self.i += 1
                params[key] = self._bare_item()
        return params

    def _key(self) -> str:
        """§4.2.3.3: lcalpha or "*", then lcalpha, DIGIT, "_", "-", ".", "*"."""
        start = self.i
        if self._peek() not in _LCALPHA and self._peek() != "*":
            raise _SFError
        self._skip(_SF_KEY_CHARS)
        return self.s[start : self.i]

    def _bare_item(self) -> SFBareItem:
        """§4.2.3.1"""
        c = self._peek()
        if c == "-" or c in _DIGITS:
            return self._number()
        if c == '"':
            return self._string()
        if c == ":":  # §4.2.7: base64 between colons, missing padding tolerated
            end = self.s.find(":", self.i + 1)
            content = self.s[self.i + 1 : end]
            if end < 0 or any(ch not in _BASE64_CHARS for ch in content):
                raise _SFError
            self.i = end + 1
            try:
                return base64.b64decode(content + "=" * (-len(content) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise _SFError from None
        if c == "?":  # §4.2.8
            self.i += 1
            flag = self._take()
            if flag not in ("0", "1"):
                raise _SFError
            return flag == "1"
        if c in _ALPHA or c == "*":  # §4.2.6
            start = self.i
            self.i += 1
            self._skip(_SF_TOKEN_CHARS)
            return SFToken(self.s[start : self.i])
        raise _SFError

    def _number(self) -> Union[int, float]:
        """§4.2.4: at most 15 integer digits; a Decimal has at most 12 before the dot, 1 to 3 after."""
        start = self.i
        if self._peek() == "-":
            self.i += 1
        digits, dot = self.i, -1
        if self._peek() not in _DIGITS:
            raise _SFError
        while self._peek() in _DIGITS or (self._peek() == "." and dot < 0):
            if self._peek() == ".":
                if self.i - digits > 12:
                    raise _SFError
                dot = self.i
            self.i += 1
            if self.i - digits > (15 if dot < 0 else 16):
                raise _SFError
        if dot < 0:
            return int(self.s[start : self.i])
        if not 1 <= self.i - dot - 1 <= 3:
            raise _SFError
        return float(self.s[start : self.i])

    def _string(self) -> str:
        """§4.2.5: printable ASCII; only \\" and \\\\ escaped."""
        self.i += 1
        out: list[str] = []
        while True:
            c = self._take()
            if c == "\\":
                c = self._take()
                if c not in ('"', "\\"):
                    raise _SFError
            elif c == '"':
                return "".join(out)
            elif not " " <= c <= "~":
                raise _SFError
            out.append(c)


_SP = frozenset(" ")
_OWS = frozenset(" \t")


def parse_sf_dictionary(value: Optional[str]) -> Optional[dict[str, SFMember]]:
    """A Structured Field Dictionary (RFC 8941 §3.2, parsed by §4.2 and §4.2.2), or None
    when the value is not one: any error fails the whole field. Lines joined with ", "
    (RFC 9110 §5.3) are one dictionary (RFC 8941 §4.2)."""
    if value is None or not value.isascii():
        return None
    try:
        return _SFParser(value.strip(" \t")).dictionary()
    except _SFError:
        return None
