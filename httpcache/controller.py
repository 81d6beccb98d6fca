"""The imperative shell around the policy: key -> store -> serializer -> policy -> store.

It owns the clock and the store. Every store call goes through ``_get`` /
``_set`` / ``_delete``, which fail open: a store error becomes a miss or a
skipped write and a (rate-limited) warning, never an exception to the caller.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from . import policy, serialize
from ._coalesce import _Coalescer
from ._refresh import _Refresher
from .cache import BaseCache, DictCache
from .keys import cache_key, normalize_url, variant_key
from .models import CacheOptions, RequestView, ResponseView, StoredResponse
from .serialize import VariantRef

log = logging.getLogger("httpcache")

__all__ = ["CacheController", "Lookup"]


@dataclass(frozen=True)
class Lookup:
    """The stored response selected for a request (if any) and the policy's decision."""

    stored: Optional[StoredResponse]
    decision: policy.Decision


def _accepts_expires(setter: Callable[..., object]) -> bool:
    """Does a store's ``set`` take an expiry hint (a third positional or ``expires``)?"""
    try:
        params = list(inspect.signature(setter).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return True
    if any(p.name == "expires" for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3


class _RateLimitedWarning:
    """Log a store failure at most once per ``interval`` seconds, counting the rest."""

    def __init__(self, interval: float = 60.0) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._last = -interval
        self._suppressed = 0

    def __call__(self, what: str, key: str, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self._interval:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        log.warning(
            "cache store %s failed for %r, carrying on without the cache: %s: %s%s",
            what,
            key,
            type(exc).__name__,
            exc,
            f" ({suppressed} similar failures not logged)" if suppressed else "",
        )


class CacheController:
    """Decides, per request and response, what to serve, store, revalidate or invalidate."""

    def __init__(
        self,
        cache: Optional[BaseCache] = None,
        options: Optional[CacheOptions] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache: BaseCache = cache if cache is not None else DictCache()
        self.options = options if options is not None else CacheOptions()
        self.clock = clock
        self._set_takes_expires = _accepts_expires(self.cache.set)
        self._index_lock = threading.Lock()
        self._warn = _RateLimitedWarning()
        self.refresher = _Refresher()
        self.coalescer = _Coalescer()

    # -- the store, failing open -------------------------------------------------

    def _get(self, key: str) -> object:
        try:
            return self.cache.get(key)
        except Exception as exc:  # noqa: BLE001 - any store failure is a miss
            self._warn("get", key, exc)
            return None

    def _set(self, key: str, value: bytes, expires: Optional[float]) -> bool:
        try:
            if self._set_takes_expires and expires is not None:
                self.cache.set(key, value, expires)
            else:
                self.cache.set(key, value)
            return True
        except Exception as exc:  # noqa: BLE001 - any store failure is a skipped write
            self._warn("set", key, exc)
            return False

    def _delete(self, key: str) -> None:
        try:
            self.cache.delete(key)
        except KeyError:
            pass  # a store that raises on a missing key: nothing to delete
        except Exception as exc:  # noqa: BLE001
            self._warn("delete", key, exc)

    def _drop_corrupt(self, key: str, why: str) -> None:
        log.debug("cache entry %r unusable (%s): deleted, treated as a miss", key, why)
        self._delete(key)

    # -- reading --------------------------------------------------------------------

    def candidates(self, req: RequestView, method: str, partial: bool = False) -> list[StoredResponse]:
        """Stored responses to ``method`` at the request's URL that match its Vary (§4.1);
        ``partial``: the stored 206 responses instead (§3.3)."""
        url = normalize_url(req.url)
        key = cache_key(method, url, partial)
        data = self._get(key)
        if data is None:
            return []
        kind = serialize.kind_of(data)
        if kind == "R":
            stored = serialize.load_response(data, url)
            if stored is None:
                self._drop_corrupt(key, "undecodable or for another URL")
                return []
            return [stored] if policy.variant_matches(req, stored, self.options) else []
        if kind == "I":
            refs = serialize.load_index(data, url)
            if refs is None:
                self._drop_corrupt(key, "undecodable variant index")
                return []
            auth = policy.auth_digest(req.headers, self.options)
            found: list[StoredResponse] = []
            for ref in refs:
                if ref.auth != auth:
                    continue
                if policy.vary_values(req.headers, list(ref.vary)) != dict(ref.vary):
                    continue
                vdata = self._get(ref.key)
                if vdata is None:
                    continue
                stored = serialize.load_response(vdata, url)
                if stored is None:
                    self._drop_corrupt(ref.key, "undecodable variant or for another URL")
                    continue
                if policy.variant_matches(req, stored, self.options):
                    found.append(stored)
            return found
        self._drop_corrupt(key, "not an httpcache entry of this version")
        return []

    def lookup(self, req: RequestView, partial: bool = False) -> Lookup:
        """Select the stored response for ``req`` and let the policy decide (RFC 9111 §4);
        ``partial``: among the stored 206 responses (§3.4)."""
        now = self.clock()
        if partial:
            stored = policy.most_recent(self.candidates(req, req.method, partial=True))
            return Lookup(stored, policy.decide(req, stored, now, self.options))
        if req.method == "HEAD":
            # RFC 9111 §4.3.5 / §4: a fresh stored GET response can answer a HEAD request
            from_get = policy.most_recent(self.candidates(req, "GET"))
            if from_get is not None:
                decision = policy.decide(req, from_get, now, self.options)
                if isinstance(decision, (policy.Fresh, policy.StaleAllowed)):
                    return Lookup(from_get, decision)
        stored = policy.most_recent(self.candidates(req, req.method))
        decision = policy.decide(req, stored, now, self.options)
        log.debug("%s %s: %s", req.method, req.url, decision)
        return Lookup(stored, decision)

    # -- writing --------------------------------------------------------------------

    def store(
        self, req: RequestView, resp: ResponseView, body: bytes, request_time: float, response_time: float
    ) -> Optional[StoredResponse]:
        """Store a complete response (the caller checked ``policy.not_storable_reason``)."""
        headers = policy.headers_to_store(req, resp, self.options)
        names = policy.vary_names(headers)
        stored = StoredResponse(
            url=normalize_url(req.url),
            method=req.method,
            status=resp.status,
            reason=resp.reason,
            headers=headers,
            body=body,
            request_time=request_time,
            response_time=response_time,
            vary=policy.vary_values(req.headers, names),
            auth=policy.auth_digest(req.headers, self.options),
        )
        return stored if self.write(stored) else None

    def write(self, stored: StoredResponse) -> bool:
        """Write ``stored`` under its key: at the primary key when it has no Vary and no
        credentials, else as a variant listed in the URL's index (RFC 9111 §4.1)."""
        primary = cache_key(stored.method, stored.url, partial=stored.status == 206)
        ttl = policy.ttl_hint(stored, self.clock(), self.options)
        value = serialize.dump_response(stored)
        with self._index_lock:
            old = self._get(primary)
            old_kind = serialize.kind_of(old)
            old_refs = serialize.load_index(old, stored.url) if old_kind == "I" else None
            if not stored.vary and stored.auth is None and not old_refs:
                # the common case: one response per URL, at the primary key
                ok = self._set(primary, value, ttl)
            else:
                refs = list(old_refs or [])
                if old_kind == "R" and isinstance(old, (bytes, bytearray, memoryview)):
                    # a lone response becomes the first variant of the new index
                    lone = serialize.load_response(old, stored.url)
                    if lone is not None:
                        lone_key = variant_key(primary, lone.vary, lone.auth)
                        if self._set(lone_key, bytes(old), policy.ttl_hint(lone, self.clock(), self.options)):
                            refs.append(VariantRef(lone_key, dict(lone.vary), lone.auth))
                vkey = variant_key(primary, stored.vary, stored.auth)
                ok = self._set(vkey, value, ttl)
                if ok:
                    refs = [r for r in refs if r.key != vkey]
                    refs.append(VariantRef(vkey, dict(stored.vary), stored.auth))
                    dropped, refs = refs[: -self.options.max_variants], refs[-self.options.max_variants :]
                    self._delete_keys(r.key for r in dropped)
                    ok = self._set(primary, serialize.dump_index(stored.url, refs), None)
        log.debug("stored %s %s (%d bytes)%s", stored.method, stored.url, len(stored.body), "" if ok else ": failed")
        return ok

    def _delete_keys(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._delete(key)

    def remove(self, stored: StoredResponse) -> None:
        """Delete one stored response (a newer response replaced it)."""
        primary = cache_key(stored.method, stored.url, partial=stored.status == 206)
        with self._index_lock:
            if serialize.kind_of(self._get(primary)) == "R":
                self._delete(primary)
            else:
                self._delete(variant_key(primary, stored.vary, stored.auth))

    def invalidate(self, urls: Iterable[str]) -> None:
        """RFC 9111 §4.4: forget every stored response (all variants) for these URLs."""
        for url in urls:
            for method, partial in (("GET", False), ("HEAD", False), ("GET", True)):
                key = cache_key(method, url, partial)
                with self._index_lock:
                    data = self._get(key)
                    if data is None:
                        continue
                    refs = serialize.load_index(data) if serialize.kind_of(data) == "I" else None
                    self._delete_keys(ref.key for ref in refs or ())
                    self._delete(key)
                log.debug("invalidated %s %s (RFC 9111 §4.4)", method, url)

    def freshen(
        self, stored: StoredResponse, resp: ResponseView, request_time: float, response_time: float
    ) -> StoredResponse:
        """RFC 9111 §4.3.4: update the stored response with a 304's fields, and write it."""
        fresh = policy.freshen(stored, resp, request_time, response_time)
        self.write(fresh)
        return fresh

    def head_response(self, req: RequestView, resp: ResponseView, request_time: float, response_time: float) -> None:
        """RFC 9111 §4.3.5: a HEAD response that contradicts the stored GET response
        invalidates it; one whose validator selects it freshens it (as a 304 would)."""
        for stored in self.candidates(req, "GET"):
            if policy.head_invalidates(stored, resp):
                log.debug("HEAD response contradicts stored GET %s: removed (RFC 9111 §4.3.5)", req.url)
                self.remove(stored)
            elif policy.has_validator(resp.headers) and policy.validator_matches(stored, resp):
                log.debug("HEAD response freshens stored GET %s (RFC 9111 §4.3.5)", req.url)
                self.freshen(stored, resp, request_time, response_time)
