"""The user's opt-in overrides of RFC 9111, as rules the policy applies (README.rst
"Expiry you choose", "Modes"). Each one departs from a rule of the RFC on purpose and only
when the user asked for it; the defaults of ``CacheOptions`` leave every rule as it is.
Pure: no I/O, no clock; re-exported by ``policy``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Optional

from ._rules import UrlRule, match_rule, redact_query
from .exceptions import HTTPCacheError
from .keys import normalize_url
from .models import CacheOptions, RequestView

__all__ = ["body_key", "cache_view", "cached_url", "keyed_url", "capped", "default_lifetime", "url_rule"]


def cache_view(view: RequestView, options: CacheOptions) -> RequestView:
    """``ignored_parameters``: the request as the cache sees it, without those query
    parameters and header fields: its key and what is stored of it (the URL, the values
    kept for Vary, §4.1) leave them out; the request sent keeps them. ``view`` itself when
    it has none of them. Listing ``Authorization`` opts out of its implicit Vary (§4.1).
    ``key_fn`` then maps the URL to the one it is cached under (``keyed_url``)."""
    url = cached_url(view.url, options)
    ignored = options._ignored_headers
    headers = view.headers.without(ignored) if ignored and view.headers.has_any(ignored) else view.headers
    if url == view.url and headers is view.headers:
        return view
    return RequestView(view.method, url, headers, view.body_key)


def cached_url(url: str, options: CacheOptions) -> str:
    """The URL the cache keys and stores for ``url``: without the query parameters of
    ``ignored_parameters``, then mapped by ``key_fn``. Idempotent (``key_fn`` must be), so
    a URL already mapped (a request's, in its cache view) maps to itself; an invalidated
    URL from a response's Location or Content-Location maps as a request's would (§4.4)."""
    if options._ignored_query:
        url = redact_query(url, options._ignored_query)
    return url if options.key_fn is None else keyed_url(url, options)


def keyed_url(url: str, options: CacheOptions) -> str:
    """``key_fn``: the URL ``url`` is cached under (RFC 9111 §2: the cache key is the
    method and target URI; the user widens "same target"). The one key function,
    ``keys.cache_key``, keys what it returns: lookups, writes and invalidation alike."""
    if options.key_fn is None:
        return url
    keyed = options.key_fn(normalize_url(url))
    if not isinstance(keyed, str) or not keyed:
        raise HTTPCacheError(f"key_fn must return a non-empty str, not {keyed!r} (for {url})")
    return keyed


def body_key(body: bytes, content_type: Optional[str], options: CacheOptions) -> str:
    """The digest of a POST's body that keys it when POST responses are cached
    (``cacheable_methods``; RFC 9111 §2 lets the key include the request content): a
    SHA-256 of its Content-Type and body, the fields of ``ignored_parameters`` left out of a
    JSON object (top level) or a form; a JSON body is compared as data (key order and
    spacing do not matter). Only the digest is kept, never the body."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if options._ignored_query and media == "application/x-www-form-urlencoded":
        body = redact_query("?" + body.decode("latin-1"), options._ignored_query)[1:].encode("latin-1")
    elif media == "application/json" or media.endswith("+json"):
        try:
            data = json.loads(body)
        except ValueError:
            pass
        else:
            if isinstance(data, dict) and options._ignored_query:
                data = {k: v for k, v in data.items() if k not in options._ignored_query}
            body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    digest = hashlib.sha256(media.encode("latin-1", "replace") + b"\n" + body)
    return digest.hexdigest()[:40]


def url_rule(url: str, options: CacheOptions) -> Optional[UrlRule]:
    """The first ``urls_expire_after`` rule matching ``url`` (normalised: as it is keyed
    and stored), or None. One attribute test when there are no rules."""
    rules = options._url_rules
    return None if not rules else match_rule(rules, normalize_url(url))


def default_lifetime(rule: Optional[UrlRule], options: CacheOptions) -> Optional[float]:
    """The freshness lifetime the user chose for a response without explicit freshness
    (its URL rule's, else ``expire_after``), or None (heuristic freshness then applies).
    Departs from RFC 9111 §4.2.2, which leaves such a lifetime to the cache's heuristics:
    this is the heuristic the user picked."""
    if rule is not None and rule.lifetime is not None and not rule.force:
        return rule.lifetime
    return options._expire_after


def capped(lifetime: float, options: CacheOptions) -> float:
    """``max_ttl``: at most this much freshness whatever the origin asks (RFC 9111 §4.2.1
    lets a cache use less than the origin's lifetime; a cache may always revalidate)."""
    cap = options._max_ttl
    return lifetime if cap is None or lifetime <= cap else cap
