"""The user's opt-in overrides of RFC 9111, as rules the policy applies (README.rst
"Expiry you choose", "Modes"). Each one departs from a rule of the RFC on purpose and only
when the user asked for it; the defaults of ``CacheOptions`` leave every rule as it is.
Pure: no I/O, no clock; re-exported by ``policy``.
"""

from __future__ import annotations

from typing import Optional

from ._rules import UrlRule, match_rule
from .keys import normalize_url
from .models import CacheOptions

__all__ = ["capped", "default_lifetime", "url_rule"]


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
