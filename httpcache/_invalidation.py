"""Invalidation (RFC 9111 §4.4): the stored responses a response to an unsafe method
makes obsolete. Pure; re-exported by ``policy``."""

from __future__ import annotations

from typing import Optional
from urllib.parse import urljoin, urlsplit

from .models import RequestView, ResponseView

__all__ = ["SAFE_METHODS", "invalidation_urls"]

#: RFC 9110 §9.2.1: safe methods; every other (and unknown) method invalidates (§4.4).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _origin(url: str) -> tuple[str, str, Optional[int]]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def invalidation_urls(req: RequestView, resp: ResponseView) -> list[str]:
    """RFC 9111 §4.4: a non-error response to an unsafe method invalidates the target URI
    and the same-origin URIs in Location and Content-Location."""
    if req.method in SAFE_METHODS or not 200 <= resp.status < 400:
        return []
    urls = [req.url]
    for name in ("location", "content-location"):
        value = resp.headers.get(name)
        if not value:
            continue
        try:
            target = urljoin(req.url, value.strip())
        except ValueError:
            continue
        if _origin(target) == _origin(req.url) and target not in urls:
            urls.append(target)
    return urls
