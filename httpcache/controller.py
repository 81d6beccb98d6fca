"""The imperative shell around the policy: key -> store -> serializer -> policy -> store.

It owns the clock and the store. Every store call goes through ``_get`` /
``_set`` / ``_delete``, which fail open: a store error becomes a miss or a
skipped write and a (rate-limited) warning, never an exception to the caller.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Collection, Iterable, Optional

from . import _compat, _values, _variants, policy, serialize
from ._body import Entry, StoredBody
from ._coalesce import _Coalescer
from ._decoded import DecodedEntries
from ._logtext import Fallbacks, lookup_text, stored_text
from ._lookup import Held, Lookup
from ._refresh import _Refresher
from ._settings import current_mode
from ._spool import Spool
from ._stats import CacheStats
from ._store import StoreAccess, Value, close
from .cache import BaseCache, DictCache, ValueReader
from .exceptions import HTTPCacheError
from .keys import cache_key, key_of_normal, normalize_url
from .models import CacheOptions, Heuristic, RequestView, ResponseView, StoredResponse

log = logging.getLogger("httpcache")

__all__ = ["CacheController", "Held", "Lookup"]  # Held, Lookup: from _lookup


_Publish = _values.Publish


class CacheController:
    """Decides, per request and response, what to serve, store, revalidate or invalidate."""

    def __init__(
        self,
        cache: Optional[BaseCache] = None,
        cache_etags: bool = True,
        serializer: Optional[serialize.Serializer] = None,
        status_codes: Optional[Collection[int]] = None,
        *,
        options: Optional[CacheOptions] = None,
        heuristic: Optional[Heuristic] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """cachecontrol's arguments first (``cache_etags=False`` is ``revalidate=False``,
        ``status_codes`` is ``cacheable_status_codes``), then ours; each one given replaces
        its field of ``options`` (default ``CacheOptions()``)."""
        if cache_etags is not True and cache_etags is not False:
            raise HTTPCacheError(f"cache_etags must be True or False, not {cache_etags!r}")
        self.options = (options if options is not None else CacheOptions()).given(
            revalidate=None if cache_etags else False,
            cacheable_status_codes=status_codes,
            heuristic=heuristic,
        )
        _compat.check_hooks(type(self), CacheController)
        if self._custom_key() and self.options.key_fn is None:  # cachecontrol's custom key
            self.options = self.options.replace(key_fn=self.cache_url)
        if serializer is not None and (
            isinstance(serializer, type) or not all(callable(getattr(serializer, n, None)) for n in ("dumps", "loads"))
        ):
            raise HTTPCacheError(f"serializer must be an instance with dumps() and loads() methods, not {serializer!r}")
        self.serializer = serializer if serializer is not None else serialize.Serializer()
        #: a serializer of the user's (``serialize.Serializer``): whole bodies through its hooks
        self._custom = not serialize.is_default(self.serializer)
        self.clock = clock
        #: The cache's counters and per-request hook (``CacheStats``).
        self.stats = CacheStats()
        self.backend = StoreAccess(cache if cache is not None else DictCache(), self._store_failed)  # failing open
        self._memo: DecodedEntries[Entry] = DecodedEntries()
        self._locks = _variants.KeyLocks()  # per primary key: writers of other URLs never wait
        self.refresher = _Refresher()
        self.coalescer = _Coalescer()
        #: Logs a fallback (a thrown-away 304, a damaged entry...) once a minute per kind.
        self.fallback = Fallbacks()

    @classmethod
    def _urlnorm(cls, uri: str) -> str:
        """cachecontrol's URL normalisation: ``keys.normalize_url``."""
        return normalize_url(uri)

    @classmethod
    def cache_url(cls, uri: str) -> str:
        """cachecontrol's name for the key of a GET of ``uri``: ``keys.cache_key``, the one
        key function (the normalised URL, RFC 9111 §2). A subclass overriding it (or
        ``_urlnorm``) chooses the URL requests are cached under: it becomes ``key_fn``
        (unless that is given), so lookups, writes and invalidation all use it."""
        return cache_key("GET", cls._urlnorm(uri))

    def _custom_key(self) -> bool:
        """Does this class override ``cache_url`` or ``_urlnorm`` (cachecontrol's key hooks)?"""
        return any(_compat.overrides(type(self), CacheController, name) for name in _compat.KEY_HOOKS)

    @property
    def cache(self) -> BaseCache:
        """The store."""
        return self.backend.cache

    @cache.setter
    def cache(self, cache: BaseCache) -> None:
        self.backend = StoreAccess(cache, self._store_failed)
        self._memo.clear()

    def _store_failed(self, counter: str = "store_errors") -> None:
        self.stats.add(counter)

    # -- writing values and the store's leases -------------------------------------

    @property
    def streams(self) -> bool:
        """Are values written to the store in pieces (a streaming store, the default format)?"""
        return self.backend.streaming and not self._custom

    def lease(self, key: str, seconds: float) -> Optional[str]:
        """The store's lease on ``key`` (``StoreAccess.lease``)."""
        return self.backend.lease(key, seconds)

    def unlease(self, key: str, token: str) -> None:
        self.backend.unlease(key, token)

    def _delete(self, key: str) -> None:
        self._memo.forget(key)
        self.backend.delete(key)

    def _drop_corrupt(self, key: str, why: str) -> None:
        self.fallback(logging.INFO, "a cache entry was unusable (%s): deleted, a miss (e.g. %r)", why, key)
        self._delete(key)

    # -- reading --------------------------------------------------------------------

    def candidates(self, req: RequestView, method: str, partial: bool = False) -> list[Entry]:
        """Stored entries for ``method`` at the request's URL that match its Vary (§4.1);
        ``partial``: the stored 206 responses instead (§3.3). The caller owns them."""
        return self._candidates(req, method, partial)[0]

    def _candidates(self, req: RequestView, method: str, partial: bool = False) -> tuple[list[Entry], bool]:
        """``candidates``, and whether something is stored at the URL's key that does not
        match the request (a Vary variant or credentials of others: a "vary miss")."""
        url = normalize_url(req.url)
        key = key_of_normal(method, url, partial, req.body_key if method == req.method else None)
        data = self.backend.open(key)
        if data is None:
            return [], False
        entry = self._memoised(key, data, url)
        try:
            kind = "R" if entry is not None else serialize.kind_of(data)
            if kind is None and self._custom:
                kind = "R"  # the user's format: its loads says
        except Exception as exc:  # noqa: BLE001 - a reader failing is a miss
            close(data)
            self.backend.warn("read", key, exc)
            return [], False
        if kind == "R":
            if entry is None:
                entry = self._load(key, data, url, memo_checked=True)
            if entry is None:  # unusable: deleted, a plain miss
                return [], False
            if policy.variant_matches(req, entry.head, self.options):
                return [entry], False
            entry.close()
            return [], True
        if kind == "I":
            refs = serialize.load_index(self._whole(data), url)
            if refs is None:
                self._drop_corrupt(key, "undecodable variant index")
                return [], False
            auth = policy.request_auth_digest(req, self.options)
            found: list[Entry] = []
            for ref in refs:
                if ref.auth != auth:
                    continue
                if policy.vary_values(req.headers, list(ref.vary)) != dict(ref.vary):
                    continue
                vdata = self.backend.open(ref.key)
                if vdata is None:
                    continue
                entry = self._load(ref.key, vdata, url)
                if entry is None:
                    continue
                if policy.variant_matches(req, entry.head, self.options):
                    found.append(entry)
                else:
                    entry.close()
            return found, not found
        close(data)
        self._drop_corrupt(key, "not an httpcache entry of this version")
        return [], False

    def _memoised(self, key: str, data: Value, url: str) -> Optional[Entry]:
        """The decoded entry for ``data`` if it is the very value decoded before."""
        if isinstance(data, ValueReader):
            return None
        entry = self._memo.get(key, data)
        return entry if entry is not None and entry.head.url == url else None

    def _load(self, key: str, data: Value, url: str, memo_checked: bool = False) -> Optional[Entry]:
        """Decode the entry at ``key``; a damaged or foreign one is deleted (a miss), and so
        is one whose body kept in the store turns out damaged when it is read.
        A reader is owned by the entry returned, else closed. ``memo_checked``: the
        caller already asked ``_memoised``."""
        entry = None if memo_checked else self._memoised(key, data, url)
        if entry is not None:
            return entry
        try:
            if self._custom:
                entry = _values.custom_load(self, key, data, url)
            elif isinstance(data, ValueReader):
                entry = serialize.load_response_from(data, url)
                if entry is not None and isinstance(entry.body, StoredBody):
                    entry.body.on_damage = lambda: self._drop_corrupt(key, "body does not match its checksum")
            else:
                entry = serialize.load_response(data, url)
                if entry is not None and isinstance(data, bytes):
                    self._memo.put(key, data, entry, read=True)
        except Exception as exc:  # noqa: BLE001 - a reader failing is a miss
            close(data)
            self.backend.warn("read", key, exc)
            return None
        if entry is None:
            close(data)
            self._drop_corrupt(key, "undecodable or for another URL")
        return entry

    def _whole(self, data: Value) -> object:
        """A value as bytes (an index: small), closing a reader."""
        if not isinstance(data, ValueReader):
            return data
        try:
            return data.pread(data.length, 0) if data.length <= 16 * 1024 * 1024 else None
        except Exception:  # noqa: BLE001 - unreadable: undecodable
            return None
        finally:
            close(data)

    def lookup(self, req: RequestView, partial: bool = False, mode: str = "default") -> Lookup:
        """Select the stored entry for ``req`` and let the policy decide (RFC 9111 §4);
        ``partial``: among the stored 206 responses (§3.4); ``mode``: the request's mode
        (``policy.decide_in_mode``)."""
        now = self.clock()
        if mode == "default":
            decide = policy.decide
        else:

            def decide(
                req: RequestView, stored: Optional[StoredResponse], now: float, options: CacheOptions
            ) -> policy.Decision:
                return policy.decide_in_mode(mode, req, stored, now, options)

        if partial:
            entry = self._most_recent(self.candidates(req, req.method, partial=True))
            return Lookup(entry, decide(req, None if entry is None else entry.head, now, self.options))
        if req.method == "HEAD":
            # RFC 9111 §4.3.5 / §4: a fresh stored GET response can answer a HEAD request
            from_get = self._most_recent(self.candidates(req, "GET"))
            if from_get is not None:
                decision = decide(req, from_get.head, now, self.options)
                if isinstance(decision, (policy.Fresh, policy.StaleAllowed)):
                    return Lookup(from_get, decision)
                from_get.close()
        found, vary_miss = self._candidates(req, req.method)
        entry = self._most_recent(found)
        decision = decide(req, None if entry is None else entry.head, now, self.options)
        if log.isEnabledFor(logging.DEBUG):
            said = lookup_text(decision, None if entry is None else entry.head, now, self.options)
            log.debug("%s %s: %s", req.method, req.url, said)
        return Lookup(entry, decision, vary_miss)

    @staticmethod
    def _most_recent(found: list[Entry]) -> Optional[Entry]:
        """The one to use (§4): the most recent; the others are closed."""
        if len(found) < 2:
            return found[0] if found else None
        chosen = policy.most_recent([entry.head for entry in found])
        kept: Optional[Entry] = None
        for entry in found:
            if kept is None and entry.head is chosen:
                kept = entry
            else:
                entry.close()
        return kept

    # -- writing --------------------------------------------------------------------

    def read_only(self) -> bool:
        """Is the request being made in mode read-only (``httpcache.settings``, or the
        session's ``CacheOptions.mode``): the cache is used but never changed."""
        return current_mode(self.options) == "read-only"

    def _new_stored(
        self, req: RequestView, resp: ResponseView, body_length: int, request_time: float, response_time: float
    ) -> StoredResponse:
        headers = policy.headers_to_store(req, resp, self.options)
        return StoredResponse(
            url=normalize_url(req.url),
            method=req.method,
            status=resp.status,
            reason=resp.reason,
            headers=headers,
            body_length=body_length,
            request_time=request_time,
            response_time=response_time,
            vary=policy.vary_values(req.headers, policy.vary_names(headers) + self.options._match_headers),
            auth=policy.request_auth_digest(req, self.options),
            body_key=req.body_key,
        )

    def store(
        self, req: RequestView, resp: ResponseView, body: bytes, request_time: float, response_time: float
    ) -> Optional[Entry]:
        """Store a complete response (the caller checked ``policy.not_storable_reason``)."""
        entry = Entry(self._new_stored(req, resp, len(body), request_time, response_time), body)
        return entry if self.put(entry) else None

    def begin_store(
        self,
        req: RequestView,
        resp: ResponseView,
        request_time: float,
        response_time: float,
        expected_length: Optional[int] = None,
    ) -> Optional[Spool]:
        """A sink for a response's body as it arrives, stored once it is complete
        (the caller checked ``policy.not_storable_reason``); None when the store will
        not take it (``expected_length``, the announced body length, is over its
        ``max_value_size()``, or that is 0: it is down): nothing is then collected."""
        if self.read_only():
            log.debug("not stored: %s %s: mode read-only", req.method, req.url)
            return None
        stored = self._new_stored(req, resp, 0, request_time, response_time)
        head = serialize.dump_head(stored)
        bound = self.backend.value_bound()
        if bound is not None:
            if bound == 0:
                log.debug("not stored: %s %s: the store takes no writes now", req.method, req.url)
                self.stats.add("writes_declined")
                return None
            if expected_length is not None and len(head) + expected_length + serialize.TRAILER_SIZE > bound:
                log.debug(
                    "not stored: %s %s: a %d-byte body is over the store's bound (%d bytes a value)",
                    req.method,
                    req.url,
                    expected_length,
                    bound,
                )
                self.stats.add("writes_declined")
                return None
        return Spool(self, stored, head, bound)

    def put(self, entry: Entry, updated: bool = False) -> bool:
        """Write ``entry`` (see ``write``)."""
        return self.write(entry.head, _values.publisher(self, entry), updated)

    def write(self, stored: StoredResponse, publish: _Publish, updated: bool = False) -> bool:
        """Write the value of ``stored`` (``publish`` writes it under a key; called once) under
        its key: at the primary key when it has no Vary and no credentials, else as a variant
        listed in the URL's index (RFC 9111 §4.1), which ``_variants`` changes by the store's
        ``compare_and_set`` under this key's lock. ``updated``: a stored response freshened
        (RFC 9111 §4.3.4, §4.3.5), for the log. Nothing is written in mode read-only."""
        if self.read_only():
            return False
        primary = cache_key(stored.method, stored.url, stored.status == 206, stored.body_key)
        ttl = policy.ttl_hint(stored, self.clock(), self.options)
        with self._locks.held(primary):
            old = self.backend.open(primary)
            try:
                plain = not stored.vary and stored.auth is None and serialize.kind_of(old) != "I"
            except Exception as exc:  # noqa: BLE001 - a reader failing: the write is skipped
                self.backend.warn("write", primary, exc)
                plain = None
            finally:
                close(old)
            if plain:  # the common case: one response per URL, at the primary key
                ok = publish(primary, ttl)
            else:
                ok = plain is not None and _variants.add_variant(self, stored, primary, lambda key: publish(key, ttl))
        if log.isEnabledFor(logging.DEBUG):
            what = "updated from a 304 (RFC 9111 §4.3.4):" if updated else "stored"
            said = stored_text(stored, self.clock(), self.options) if ok else "the store did not take it"
            log.debug("%s %s %s: %s", what, stored.method, stored.url, said)
        return ok

    def remove(self, stored: StoredResponse) -> None:
        """Delete one stored response (a newer response replaced it); not in mode read-only."""
        if self.read_only():
            return
        primary = cache_key(stored.method, stored.url, stored.status == 206, stored.body_key)
        with self._locks.held(primary):
            _variants.remove_variant(self, stored, primary)

    def invalidate(self, urls: Iterable[str]) -> None:
        """RFC 9111 §4.4: forget every stored response (all variants) for these URLs (not in
        mode read-only: the cache is left as it is)."""
        if self.read_only():
            return
        if self.options._rewrites:
            urls = [self._keyed(url) for url in urls]
        for url in urls:
            for method, partial in (("GET", False), ("HEAD", False), ("GET", True)):
                key = cache_key(method, url, partial)
                with self._locks.held(key):
                    _variants.drop_all(self, key)
                log.debug("invalidated %s %s (RFC 9111 §4.4)", method, url)
            self.stats.add("invalidations")

    def _keyed(self, url: str) -> str:
        """The URL the cache keys for ``url`` (``ignored_parameters`` removed, ``key_fn``
        applied: ``policy.cached_url``); ``url`` itself (warned) if the user's function fails."""
        try:
            return policy.cached_url(url, self.options)
        except Exception as exc:  # noqa: BLE001 - a user's function failing: the URL as it is
            self.fallback(logging.WARNING, "option key_fn failed (%s): %s; used the URL as it is", exc, url)
            return url

    def freshen(
        self,
        entry: Entry,
        resp: ResponseView,
        request_time: float,
        response_time: float,
        req: Optional[RequestView] = None,
    ) -> Entry:
        """RFC 9111 §4.3.4: update the stored response with a 304's fields (answering
        ``req``), and write it (see ``replace``)."""
        fresh = policy.freshen(entry.head, resp, request_time, response_time, req, self.options)
        return self.replace(entry, fresh)

    def replace(self, entry: Entry, fresh: StoredResponse) -> Entry:
        """Write ``fresh`` (``entry``'s head freshened: RFC 9111 §4.3.4) with its body in its
        place; where a new Vary moves it to another key, it leaves the old. The entry
        returned shares ``entry``'s body (and its owner)."""
        if dict(fresh.vary) != dict(entry.head.vary):
            self.remove(entry.head)
        renewed = entry.with_head(fresh)
        self.put(renewed, updated=True)
        return renewed

    def warn_contradiction(self, url: str, stored: StoredResponse, rv: ResponseView) -> None:
        """RFC 9111 §4.3.4: a 304 whose validator contradicts ours (WARNING, once a minute)."""
        self.fallback(
            logging.WARNING,
            "%s: the origin answered our conditional request (ETag %s, Last-Modified %s) with a 304 "
            "carrying ETag %s, Last-Modified %s; served the stored response once and dropped it (RFC 9111 §4.3.4)",
            url,
            stored.headers.get("etag"),
            stored.headers.get("last-modified"),
            rv.headers.get("etag"),
            rv.headers.get("last-modified"),
        )

    def head_response(self, req: RequestView, resp: ResponseView, request_time: float, response_time: float) -> None:
        """RFC 9111 §4.3.5: carry out ``policy.after_head`` for each stored GET response."""
        for entry in self.candidates(req, "GET"):
            with entry:
                outcome = policy.after_head(req, resp, entry.head, request_time, response_time, self.options)
                if isinstance(outcome, policy.Remove):
                    log.debug("%s: %s: removed", req.url, outcome.reason)
                    self.remove(outcome.stored)
                elif isinstance(outcome, policy.Freshen):
                    log.debug("%s: %s", req.url, outcome.reason)
                    self.replace(entry, outcome.fresh)
