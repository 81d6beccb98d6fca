"""The one key function, used for reads, writes and invalidation alike.

A key is the normalised target URI (RFC 9111 §2: the primary cache key is the
method and target URI), prefixed with the method for methods other than GET; a POST
cached by its body (opt-in) adds the digest of its body (RFC 9111 §2: "the cache key can
include ... the request content")
The fragment is never part of the key (it is not sent to the origin, RFC 9110
§4.2.5), so ``http://h/p#x`` and ``http://h/p`` share one entry.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

__all__ = ["normalize_url", "cache_key", "key_of_normal", "variant_key"]

_DEFAULT_PORTS = {"http": 80, "https": 443}

#: A URL already in normal form, as ``requests`` prepares most: lower-case scheme and host
#: name, no userinfo, a port only when it is not the default (checked below), a path, no
#: fragment, nothing to strip (an empty query's "?" is: parsing drops it). Such a URL is its
#: own normal form, found without parsing.
_NORMAL = re.compile(r"(https?)://[a-z0-9.-]+(?::([1-9][0-9]{0,4}))?/[^#\s]*(?<!\?)")


def normalize_url(url: str) -> str:
    """Scheme and host lower-cased, default port and fragment dropped, empty path as ``/``.
    (Not memoised: a URL may carry credentials, and the common case needs no parsing.)"""
    normal = _NORMAL.fullmatch(url)
    if normal is not None and url[-1] != "?":  # an empty query is dropped, as urlunsplit does
        port = normal.group(2)
        if port is None or int(port) != _DEFAULT_PORTS[normal.group(1)]:
            return url
    return _normalize_parsed(url)


def _normalize_parsed(url: str) -> str:
    """``normalize_url`` by parsing ``url`` (every URL; the fast path is checked against it)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        base, _, _ = url.partition("#")
        return base
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at:
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def cache_key(method: str, url: str, partial: bool = False, body_key: Optional[str] = None) -> str:
    """The primary key of ``method url``: the normalised URL for GET, ``"HEAD <url>"`` for HEAD;
    ``partial`` names the place of a stored 206 (partial content, RFC 9111 §3.3);
    ``body_key``: the digest of a POST's body, for a POST cached by its body."""
    return key_of_normal(method, normalize_url(url), partial, body_key)


def key_of_normal(method: str, normalized: str, partial: bool = False, body_key: Optional[str] = None) -> str:
    """``cache_key`` of a URL already normalised (``normalize_url``): not normalised again."""
    method = method.upper()
    key = normalized if method == "GET" else f"{method} {normalized}"
    if body_key is not None:
        key = f"{key} #body={body_key}"
    return f"PARTIAL {key}" if partial else key


def variant_key(primary: str, vary: Mapping[str, Optional[str]], auth: Optional[str]) -> str:
    """The key of one variant of ``primary`` (RFC 9111 §4.1 secondary key)."""
    material = json.dumps([sorted(vary.items()), auth], separators=(",", ":"), ensure_ascii=True)
    return f"{primary}#variant={hashlib.sha256(material.encode('ascii')).hexdigest()[:32]}"
