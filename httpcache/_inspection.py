"""Seeing into the store, through the cache: what is stored, how fresh, and deleting it.

``CacheInspector`` walks a store's values (``BaseCache.values()``: stores know no HTTP)
and decodes the stored responses among them with the storage format, read-only: an
index of variants, a coalescing marker, anything not ours or damaged is skipped, never
deleted, never raised; a value gone meanwhile is skipped. Freshness is the policy's
(RFC 9111 §4.2.1 lifetime, §4.2.3 age) at an explicit ``now``. Deleting goes through the
controller's variant index (RFC 9111 §4.1), so another process using the store at the
same time never finds an index listing a variant that is gone, or loses one it wrote.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from . import _variants, policy, serialize
from ._body import Entry
from ._rules import redact_query
from ._stats import CacheStats
from ._store import close
from .cache import BaseCache, ValueReader
from .controller import CacheController
from .exceptions import HTTPCacheError
from .keys import cache_key, normalize_url, variant_key
from .models import CacheOptions, StoredResponse

__all__ = ["CacheInspector", "StoreStats", "CachedResponse"]

#: A URL filter: a glob (``fnmatch``, the whole URL) or a compiled regular expression (searched).
URLPattern = Union[str, "re.Pattern[str]", None]


@dataclass(frozen=True)
class CachedResponse:
    """One stored response, as of ``now`` (the inspector's clock when it was listed).

    ``stored_at`` is when its response was received (seconds since the epoch);
    ``age`` its current age (RFC 9111 §4.2.3); ``lifetime`` its freshness lifetime
    (§4.2.1, heuristic §4.2.2 included); ``fresh_until`` when it turns stale;
    ``stale`` whether it is now. ``vary``: the request's values of the fields its
    ``Vary`` names (§4.1); ``credentials``: stored for a request with credentials
    (a private variant of its own). ``size``: bytes the store keeps for it, head
    included; ``body_length`` the body's."""

    url: str
    method: str
    status: int
    vary: Mapping[str, Optional[str]]
    credentials: bool
    size: int
    body_length: int
    stored_at: float
    age: float
    lifetime: float
    fresh_until: float
    stale: bool
    etag: Optional[str]
    last_modified: Optional[str]
    headers: tuple[tuple[str, str], ...]
    key: Optional[str] = field(default=None, repr=False)
    _stored: Optional[StoredResponse] = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields above (not the key)."""
        return {
            "url": self.url,
            "method": self.method,
            "status": self.status,
            "vary": dict(self.vary),
            "credentials": self.credentials,
            "size": self.size,
            "body_length": self.body_length,
            "stored_at": self.stored_at,
            "age": round(self.age, 3),
            "lifetime": round(self.lifetime, 3),
            "fresh_until": self.fresh_until,
            "stale": self.stale,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "headers": [list(item) for item in self.headers],
        }


@dataclass(frozen=True)
class StoreStats:
    """How many responses are stored, their total size in bytes, how many fresh and stale."""

    count: int
    size: int
    fresh: int
    stale: int


def _controller_of(target: object) -> Optional[CacheController]:
    """The controller behind a controller, an adapter (``.controller``) or a session
    (its mounted adapters), found by what they have: this layer imports no client."""
    if isinstance(target, CacheController):
        return target
    found = getattr(target, "controller", None)
    if isinstance(found, CacheController):
        return found
    adapters = getattr(target, "adapters", None)
    if isinstance(adapters, Mapping):
        for adapter in adapters.values():
            found = getattr(adapter, "controller", None)
            if isinstance(found, CacheController):
                return found
    return None


def _url_matches(url: str, pattern: URLPattern) -> bool:
    if pattern is None:
        return True
    if isinstance(pattern, str):
        return fnmatch.fnmatchcase(url, pattern)
    return pattern.search(url) is not None


class CacheInspector:
    """List, count and delete the responses a cache holds, on any store that can list its
    values (``BaseCache.keys()`` or ``values()``: every store shipped here; a store of your
    own without them raises ``UnsupportedStoreError`` naming the method).

    ``target``: a session made with ``CacheControl``, a ``CacheControlAdapter``, a
    ``CacheController`` (freshness is judged with its options: ``expire_after``,
    ``urls_expire_after``, ``max_ttl``, ``shared``) or a store (``BaseCache``; then
    ``options`` are the ones given, by default ``CacheOptions()``, RFC 9111 alone: pass the
    application's expiry options to judge freshness as it does; ``clock`` its clock). Safe
    while other threads and processes use the store."""

    def __init__(
        self,
        target: object,
        options: Optional[CacheOptions] = None,
        clock: Optional[Callable[[], float]] = None,
    ) -> None:
        controller = _controller_of(target)
        if controller is None:
            if not isinstance(target, BaseCache):
                raise HTTPCacheError(
                    "CacheInspector needs a cached session, a CacheControlAdapter, a CacheController or a store, "
                    f"not {type(target).__name__}"
                )
            controller = CacheController(target, options=options, clock=clock if clock is not None else time.time)
        self.controller = controller
        self.options = options if options is not None else controller.options
        self.clock = clock if clock is not None else controller.clock

    @property
    def counters(self) -> CacheStats:
        """The cache's counters of what it did with requests (``controller.stats``; for a
        store inspected without its session, a controller's own, counting nothing)."""
        return self.controller.stats

    @property
    def cache(self) -> BaseCache:
        """The store."""
        return self.controller.cache

    # -- reading ----------------------------------------------------------------------

    def responses(
        self,
        url: URLPattern = None,
        *,
        expired: Optional[bool] = None,
        older_than: Optional[float] = None,
        now: Optional[float] = None,
    ) -> Iterator[CachedResponse]:
        """Every stored response (in the store's order), filtered: ``url`` a glob matched
        against the whole normalised URL (``"https://api.example/*"``) or a compiled regular
        expression (searched); ``expired`` True for the stale ones (past their freshness
        lifetime, RFC 9111 §4.2), False for the fresh ones; ``older_than`` seconds since they
        were stored. ``now`` defaults to the clock. Changes nothing."""
        now = self.clock() if now is None else now
        for key, value in self._values():
            item = self._describe(key, value, now)
            if item is None:
                continue
            if not _url_matches(item.url, url):
                continue
            if expired is not None and item.stale != expired:
                continue
            if older_than is not None and now - item.stored_at < older_than:
                continue
            yield item

    def __iter__(self) -> Iterator[CachedResponse]:
        return self.responses()

    def count(
        self,
        url: URLPattern = None,
        *,
        expired: Optional[bool] = None,
        older_than: Optional[float] = None,
        now: Optional[float] = None,
    ) -> int:
        """How many stored responses match (see ``responses``)."""
        return sum(1 for _ in self.responses(url, expired=expired, older_than=older_than, now=now))

    def total_size(
        self,
        url: URLPattern = None,
        *,
        expired: Optional[bool] = None,
        older_than: Optional[float] = None,
        now: Optional[float] = None,
    ) -> int:
        """The bytes the store keeps for the matching responses (see ``responses``)."""
        return sum(item.size for item in self.responses(url, expired=expired, older_than=older_than, now=now))

    def stats(self, now: Optional[float] = None) -> StoreStats:
        """Count, total size, fresh and stale, in one pass."""
        count = size = stale = 0
        for item in self.responses(now=now):
            count += 1
            size += item.size
            stale += item.stale
        return StoreStats(count=count, size=size, fresh=count - stale, stale=stale)

    def _values(self) -> Iterator[tuple[Optional[str], Union[bytes, ValueReader]]]:
        """(key, value) of every value, the key None where the store does not name it."""
        cache = self.cache
        try:
            keys = cache.keys()
        except NotImplementedError:
            keys = None
        if keys is None:
            for whole in cache.values():
                yield None, whole
            return
        open_read = getattr(cache, "open_read", None)
        for key in keys:
            try:
                value: object = open_read(key) if open_read is not None else cache.get(key)
            except Exception:  # noqa: BLE001 - a value that cannot be read now is skipped
                continue
            if isinstance(value, (bytes, ValueReader)):
                yield key, value

    def _describe(self, key: Optional[str], value: Union[bytes, ValueReader], now: float) -> Optional[CachedResponse]:
        """The stored response a value holds (None: not a response of ours, or damaged)."""
        try:
            if isinstance(value, ValueReader):
                size = value.length
                entry = serialize.load_response_from(value, None)
            else:
                size = len(value)
                entry = serialize.load_response(value, None)
        except Exception:  # noqa: BLE001 - unreadable: skipped
            entry = None
        finally:
            close(value)  # (the head is decoded; the body is not needed)
        if entry is None:
            return None
        head = entry.head
        lifetime = policy.freshness_lifetime(head, self.options)
        age = policy.current_age(head, now)
        facts = head.facts
        last_modified = facts.combined.get("last-modified")
        return CachedResponse(
            url=head.url,
            method=head.method,
            status=head.status,
            vary=dict(head.vary),
            credentials=head.auth is not None,
            size=size,
            body_length=head.body_length,
            stored_at=head.response_time,
            age=age,
            lifetime=lifetime,
            fresh_until=now + lifetime - age,
            stale=not lifetime > age,  # RFC 9111 §4.2, as policy.decide
            etag=facts.etag,
            last_modified=None if last_modified is None else last_modified[1],
            headers=tuple(head.headers.items()),
            key=key,
            _stored=head,
        )

    def open(self, item: CachedResponse) -> Optional[Entry]:
        """The stored response ``item`` describes, with its body (the caller closes it), if it
        is still stored; ``httpcache.read_response`` makes a ``requests.Response`` of it."""
        stored = item._stored
        if stored is None:
            return None
        key = item.key if item.key is not None else self._locate(stored)
        data = self.controller.backend.open(key)
        if data is None:
            return None
        try:
            if isinstance(data, ValueReader):
                entry = serialize.load_response_from(data, stored.url)
            else:
                entry = serialize.load_response(data, stored.url)
        except Exception:  # noqa: BLE001 - unreadable: gone
            entry = None
        if entry is None:
            close(data)
        return entry  # (replaced meanwhile by a newer response of the same variant: that one)

    # -- deleting ---------------------------------------------------------------------

    def delete_url(self, url: str) -> int:
        """Delete every response stored for ``url`` (GET, HEAD and partial; every Vary
        variant and every credentials' copy: RFC 9111 §4.4's invalidation; and the POST
        responses cached by their body, ``cacheable_methods``). ``url`` is seen as the cache
        sees a request's URL: normalised, the options' ``ignored_parameters`` removed from
        its query, then mapped by ``key_fn``. The POST responses are found by listing the
        store's keys (``BaseCache.keys()``): on a store that cannot list them only the GET
        and HEAD responses are deleted (its POST responses expire as usual). Returns how many
        responses were stored for it."""
        keyed = self._keyed(url)
        primaries = [*self._primaries(keyed), *self._post_primaries(keyed)]
        found = 0
        ctrl = self.controller
        for primary in primaries:
            with ctrl._locks.held(primary):
                found += self._stored_at(primary)
                _variants.drop_all(ctrl, primary)
        return found

    def _keyed(self, url: str) -> str:
        """The URL a request for ``url`` is cached under (``policy.cache_view``'s mapping)."""
        normal = normalize_url(url)
        ignored = self.options._ignored_query
        if ignored:
            normal = normalize_url(redact_query(normal, ignored))
        return normalize_url(policy.keyed_url(normal, self.options))

    def _post_primaries(self, url: str) -> list[str]:
        """The primary keys of ``url``'s POST responses cached by their body (``POST <url>
        #body=<digest>``), found by listing the store's keys; none if it cannot list them."""
        prefix = cache_key("POST", url) + " #body="
        try:
            keys = list(self.cache.keys())
        except NotImplementedError:
            return []
        except Exception:  # noqa: BLE001 - a store failing to list: none found
            return []
        return [key for key in keys if key.startswith(prefix) and "#variant=" not in key[len(prefix) :]]

    @staticmethod
    def _primaries(url: str) -> list[str]:
        """The primary keys a URL's GET and HEAD responses are kept under (as ``invalidate``
        drops them)."""
        return [cache_key("GET", url), cache_key("HEAD", url), cache_key("GET", url, partial=True)]

    def _stored_at(self, primary: str) -> int:
        """How many responses are kept under ``primary``: one, or its index's variants."""
        value = self.controller.backend.open(primary)
        try:
            kind = serialize.kind_of(value)
            if kind == "R":
                return 1
            if kind == "I":
                refs = serialize.load_index(value)
                found = 0
                for ref in refs or ():
                    variant = self.controller.backend.open(ref.key)
                    found += variant is not None
                    close(variant)
                return found
        except Exception:  # noqa: BLE001 - unreadable: none
            pass
        finally:
            close(value)
        return 0

    def delete(
        self,
        url: URLPattern = None,
        *,
        expired: Optional[bool] = None,
        older_than: Optional[float] = None,
        now: Optional[float] = None,
    ) -> int:
        """Delete the responses that match (see ``responses``; with no filter: all of
        them, leaving what is not a response alone). Returns how many were deleted."""
        deleted = 0
        for item in list(self.responses(url, expired=expired, older_than=older_than, now=now)):
            if self.remove(item):
                deleted += 1
        return deleted

    def remove(self, item: CachedResponse) -> bool:
        """Delete one stored response: from its URL's variant index too (RFC 9111 §4.1).
        False if it is no longer stored as listed (replaced or deleted meanwhile)."""
        stored = item._stored
        if stored is None:
            return False
        primary = cache_key(stored.method, stored.url, partial=stored.status == 206)
        key = item.key if item.key is not None else self._locate(stored)
        ctrl = self.controller
        with ctrl._locks.held(primary):
            if key == primary:
                current = ctrl.backend.open(primary)
                try:
                    same = serialize.kind_of(current) == "R" and self._head_at(current, stored) is not None
                except Exception:  # noqa: BLE001 - unreadable: not it
                    same = False
                finally:
                    close(current)
                if not same:
                    return False
                _variants.remove_variant(ctrl, stored, primary)
                return True
            current = ctrl.backend.open(primary)
            try:
                listed = serialize.kind_of(current) == "I"
            except Exception:  # noqa: BLE001 - unreadable: not an index
                listed = False
            finally:
                close(current)
            if listed:
                _variants.remove_variant(ctrl, stored, primary)  # out of the index, then deleted
            else:
                ctrl._delete(key)  # a variant no index lists
            return True

    def clear(self) -> None:
        """Empty the store (``BaseCache.clear()``: everything in it, not only responses)."""
        self.controller._memo.clear()
        self.cache.clear()

    def _locate(self, stored: StoredResponse) -> str:
        """Where ``stored`` is kept (a store that does not name its keys): at its primary key
        if that holds it alone, else at its variant key (RFC 9111 §4.1)."""
        primary = cache_key(stored.method, stored.url, partial=stored.status == 206)
        current = self.controller.backend.open(primary)
        try:
            kind = serialize.kind_of(current)
            if kind == "R" and self._head_at(current, stored) is not None:
                return primary
        except Exception:  # noqa: BLE001 - unreadable: not it
            pass
        finally:
            close(current)
        return variant_key(primary, stored.vary, stored.auth)

    @staticmethod
    def _head_at(value: object, stored: StoredResponse) -> Optional[StoredResponse]:
        """The head of the response ``value`` holds if it is ``stored`` (same variant, same
        response time), else None. A reader is left open."""
        if isinstance(value, ValueReader):
            entry = serialize.load_response_from(value, stored.url)
        else:
            entry = serialize.load_response(value, stored.url)
        if entry is None:
            return None
        head = entry.head
        if head.response_time != stored.response_time or dict(head.vary) != dict(stored.vary):
            return None
        return head if head.auth == stored.auth else None
