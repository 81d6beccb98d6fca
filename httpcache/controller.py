"""The imperative shell around the policy: key -> store -> serializer -> policy -> store.

It owns the clock and the store. Every store call goes through ``_get`` /
``_set`` / ``_delete``, which fail open: a store error becomes a miss or a
skipped write and a (rate-limited) warning, never an exception to the caller.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from . import _variants, policy, serialize
from ._coalesce import _Coalescer
from ._decoded import DecodedEntries
from ._refresh import _Refresher
from ._spool import Spool
from ._store import StoreAccess, Value, close
from .cache import BaseCache, DictCache, ValueReader, ValueWriter
from .keys import cache_key, normalize_url
from .models import CacheOptions, RequestView, ResponseView, StoredResponse

log = logging.getLogger("httpcache")

__all__ = ["CacheController", "Lookup"]


_Value = Value
#: Publishes a value under a key with an expiry hint; True if it was stored.
_Publish = Callable[[str, Optional[float]], bool]


@dataclass(frozen=True)
class Lookup:
    """The stored response selected for a request (if any) and the policy's decision.

    A context manager: a body read from the store in pieces stays open until it exits
    (a stream handed to a response keeps what it reads open until it is closed)."""

    stored: Optional[StoredResponse]
    decision: policy.Decision

    def __enter__(self) -> Lookup:
        return self

    def __exit__(self, *exc: object) -> None:
        _release(self.stored)

    def release(self) -> None:
        _release(self.stored)


def _release(stored: Optional[StoredResponse]) -> None:
    """Let go of a stored response's open body, if it has one."""
    if stored is not None and stored.stream is not None:
        stored.stream.release()


class CacheController:
    """Decides, per request and response, what to serve, store, revalidate or invalidate."""

    def __init__(
        self,
        cache: Optional[BaseCache] = None,
        options: Optional[CacheOptions] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options if options is not None else CacheOptions()
        self.clock = clock
        self.backend = StoreAccess(cache if cache is not None else DictCache())  # every store call, failing open
        self._memo: DecodedEntries[StoredResponse] = DecodedEntries()
        self._locks = _variants.KeyLocks()  # per primary key: writers of other URLs never wait
        self.refresher = _Refresher()
        self.coalescer = _Coalescer()

    @property
    def cache(self) -> BaseCache:
        """The store."""
        return self.backend.cache

    @cache.setter
    def cache(self, cache: BaseCache) -> None:
        self.backend = StoreAccess(cache)
        self._memo.clear()

    # -- the store, failing open -------------------------------------------------

    def _publisher(self, stored: StoredResponse) -> _Publish:
        """How to write ``stored`` under a key: in one piece, or copied from its open body
        (checked against its checksum as it is copied: a damaged body is not written)."""
        body = stored.stream
        if body is None:
            return self._value_publisher(serialize.dump_response(stored), stored)

        def copy(writer: ValueWriter) -> None:
            writer.write(serialize.dump_head(stored))
            crc = 0
            for piece in body.pieces():
                crc = serialize.checksum(piece, crc)
                writer.write(piece)
            body.settle(crc)  # raises OSError (the write is skipped) if the body was damaged
            writer.write(serialize.trailer(body.length, crc))

        return lambda key, ttl: self.backend.stream_into(key, ttl, copy)

    def _value_publisher(self, value: bytes, stored: Optional[StoredResponse]) -> _Publish:
        """How to write a whole ``value`` under a key; ``stored``: what it decodes to, if at
        hand, for the memo (the next hit skips decoding it, if the store hands back this
        object or an equal copy: see ``_DecodedMemo``)."""

        def publish(key: str, ttl: Optional[float]) -> bool:
            if not self.backend.set(key, value, ttl):
                return False
            if stored is not None:
                self._memo.put(key, value, stored)
            return True

        return publish

    def lease(self, key: str, seconds: float) -> Optional[str]:
        """The store's lease on ``key`` (``StoreAccess.lease``)."""
        return self.backend.lease(key, seconds)

    def unlease(self, key: str, token: str) -> None:
        self.backend.unlease(key, token)

    def _delete(self, key: str) -> None:
        self._memo.forget(key)
        self.backend.delete(key)

    def _drop_corrupt(self, key: str, why: str) -> None:
        log.debug("cache entry %r unusable (%s): deleted, treated as a miss", key, why)
        self._delete(key)

    # -- reading --------------------------------------------------------------------

    def candidates(self, req: RequestView, method: str, partial: bool = False) -> list[StoredResponse]:
        """Stored responses to ``method`` at the request's URL that match its Vary (§4.1);
        ``partial``: the stored 206 responses instead (§3.3)."""
        url = normalize_url(req.url)
        key = cache_key(method, url, partial)
        data = self.backend.open(key)
        if data is None:
            return []
        stored = self._memoised(key, data, url)
        try:
            kind = "R" if stored is not None else serialize.kind_of(data)
        except Exception as exc:  # noqa: BLE001 - a reader failing is a miss
            close(data)
            self.backend.warn("read", key, exc)
            return []
        if kind == "R":
            if stored is None:
                stored = self._load(key, data, url, memo_checked=True)
            if stored is None:
                return []
            if policy.variant_matches(req, stored, self.options):
                return [stored]
            _release(stored)
            return []
        if kind == "I":
            refs = serialize.load_index(self._whole(data), url)
            if refs is None:
                self._drop_corrupt(key, "undecodable variant index")
                return []
            auth = policy.request_auth_digest(req, self.options)
            found: list[StoredResponse] = []
            for ref in refs:
                if ref.auth != auth:
                    continue
                if policy.vary_values(req.headers, list(ref.vary)) != dict(ref.vary):
                    continue
                vdata = self.backend.open(ref.key)
                if vdata is None:
                    continue
                stored = self._load(ref.key, vdata, url)
                if stored is None:
                    continue
                if policy.variant_matches(req, stored, self.options):
                    found.append(stored)
                else:
                    _release(stored)
            return found
        close(data)
        self._drop_corrupt(key, "not an httpcache entry of this version")
        return []

    def _memoised(self, key: str, data: _Value, url: str) -> Optional[StoredResponse]:
        """The decoded response for ``data`` if it is the very value decoded before."""
        if isinstance(data, ValueReader):
            return None
        stored = self._memo.get(key, data)
        return stored if stored is not None and stored.url == url else None

    def _load(self, key: str, data: _Value, url: str, memo_checked: bool = False) -> Optional[StoredResponse]:
        """Decode the response at ``key``; a damaged or foreign one is deleted (a miss), and so
        is one whose body kept in the store turns out damaged when it is read.
        A reader is owned by the response returned, else closed. ``memo_checked``: the
        caller already asked ``_memoised``."""
        stored = None if memo_checked else self._memoised(key, data, url)
        if stored is not None:
            return stored
        try:
            if isinstance(data, ValueReader):
                stored = serialize.load_response_from(data, url)
                if stored is not None and stored.stream is not None:
                    stored.stream.on_damage = lambda: self._drop_corrupt(key, "body does not match its checksum")
            else:
                stored = serialize.load_response(data, url)
                if stored is not None and isinstance(data, bytes):
                    self._memo.put(key, data, stored)
        except Exception as exc:  # noqa: BLE001 - a reader failing is a miss
            close(data)
            self.backend.warn("read", key, exc)
            return None
        if stored is None:
            close(data)
            self._drop_corrupt(key, "undecodable or for another URL")
        return stored

    def _whole(self, data: _Value) -> object:
        """A value as bytes (an index: small), closing a reader."""
        if not isinstance(data, ValueReader):
            return data
        try:
            return data.pread(data.length, 0) if data.length <= 16 * 1024 * 1024 else None
        except Exception:  # noqa: BLE001 - unreadable: undecodable
            return None
        finally:
            close(data)

    def lookup(self, req: RequestView, partial: bool = False) -> Lookup:
        """Select the stored response for ``req`` and let the policy decide (RFC 9111 §4);
        ``partial``: among the stored 206 responses (§3.4)."""
        now = self.clock()
        if partial:
            stored = self._most_recent(self.candidates(req, req.method, partial=True))
            return Lookup(stored, policy.decide(req, stored, now, self.options))
        if req.method == "HEAD":
            # RFC 9111 §4.3.5 / §4: a fresh stored GET response can answer a HEAD request
            from_get = self._most_recent(self.candidates(req, "GET"))
            if from_get is not None:
                decision = policy.decide(req, from_get, now, self.options)
                if isinstance(decision, (policy.Fresh, policy.StaleAllowed)):
                    return Lookup(from_get, decision)
                _release(from_get)
        stored = self._most_recent(self.candidates(req, req.method))
        decision = policy.decide(req, stored, now, self.options)
        log.debug("%s %s: %s", req.method, req.url, decision)
        return Lookup(stored, decision)

    @staticmethod
    def _most_recent(found: list[StoredResponse]) -> Optional[StoredResponse]:
        """The one to use (§4): the most recent; the others' open bodies are let go."""
        chosen = policy.most_recent(found)
        for stored in found:
            if stored is not chosen:
                _release(stored)
        return chosen

    # -- writing --------------------------------------------------------------------

    def _new_stored(
        self, req: RequestView, resp: ResponseView, body: bytes, request_time: float, response_time: float
    ) -> StoredResponse:
        headers = policy.headers_to_store(req, resp, self.options)
        return StoredResponse(
            url=normalize_url(req.url),
            method=req.method,
            status=resp.status,
            reason=resp.reason,
            headers=headers,
            body=body,
            request_time=request_time,
            response_time=response_time,
            vary=policy.vary_values(req.headers, policy.vary_names(headers)),
            auth=policy.request_auth_digest(req, self.options),
        )

    def store(
        self, req: RequestView, resp: ResponseView, body: bytes, request_time: float, response_time: float
    ) -> Optional[StoredResponse]:
        """Store a complete response (the caller checked ``policy.not_storable_reason``)."""
        stored = self._new_stored(req, resp, body, request_time, response_time)
        return stored if self.write(stored) else None

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
        stored = self._new_stored(req, resp, b"", request_time, response_time)
        head = serialize.dump_head(stored)
        bound = self.backend.value_bound()
        if bound is not None:
            if bound == 0:
                log.debug("not stored: %s %s: the store takes no writes now", req.method, req.url)
                return None
            if expected_length is not None and len(head) + expected_length + serialize.TRAILER_SIZE > bound:
                log.debug(
                    "not stored: %s %s: a %d-byte body is over the store's bound (%d bytes a value)",
                    req.method,
                    req.url,
                    expected_length,
                    bound,
                )
                return None
        return Spool(self, stored, head, bound)

    def write(
        self, stored: StoredResponse, publish: Optional[_Publish] = None, body_length: Optional[int] = None
    ) -> bool:
        """Write ``stored`` under its key: at the primary key when it has no Vary and no
        credentials, else as a variant listed in the URL's index (RFC 9111 §4.1), which
        ``_variants`` changes by the store's ``compare_and_set`` under this key's lock.
        ``publish`` writes the value (default: from ``stored`` itself); it is called once.
        ``body_length``: the body's, for the log, when ``stored`` does not carry it."""
        primary = cache_key(stored.method, stored.url, partial=stored.status == 206)
        ttl = policy.ttl_hint(stored, self.clock(), self.options)
        if publish is None:
            publish = self._publisher(stored)
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
        size = stored.body_length if body_length is None else body_length
        log.debug("stored %s %s (%d bytes)%s", stored.method, stored.url, size, "" if ok else ": failed")
        return ok

    def remove(self, stored: StoredResponse) -> None:
        """Delete one stored response (a newer response replaced it)."""
        primary = cache_key(stored.method, stored.url, partial=stored.status == 206)
        with self._locks.held(primary):
            _variants.remove_variant(self, stored, primary)

    def invalidate(self, urls: Iterable[str]) -> None:
        """RFC 9111 §4.4: forget every stored response (all variants) for these URLs."""
        for url in urls:
            for method, partial in (("GET", False), ("HEAD", False), ("GET", True)):
                key = cache_key(method, url, partial)
                with self._locks.held(key):
                    _variants.drop_all(self, key)
                log.debug("invalidated %s %s (RFC 9111 §4.4)", method, url)

    def freshen(
        self,
        stored: StoredResponse,
        resp: ResponseView,
        request_time: float,
        response_time: float,
        req: Optional[RequestView] = None,
    ) -> StoredResponse:
        """RFC 9111 §4.3.4: update the stored response with a 304's fields (answering
        ``req``), and write it (see ``replace``)."""
        return self.replace(stored, policy.freshen(stored, resp, request_time, response_time, req, self.options))

    def replace(self, stored: StoredResponse, fresh: StoredResponse) -> StoredResponse:
        """Write ``fresh`` (``stored`` freshened: RFC 9111 §4.3.4) in its place; where a new
        Vary moves it to another key, it leaves the old."""
        if dict(fresh.vary) != dict(stored.vary):
            self.remove(stored)
        self.write(fresh)
        return fresh

    def head_response(self, req: RequestView, resp: ResponseView, request_time: float, response_time: float) -> None:
        """RFC 9111 §4.3.5: carry out ``policy.after_head`` for each stored GET response."""
        for stored in self.candidates(req, "GET"):
            try:
                outcome = policy.after_head(req, resp, stored, request_time, response_time, self.options)
                if isinstance(outcome, policy.Remove):
                    log.debug("%s: %s: removed", req.url, outcome.reason)
                    self.remove(outcome.stored)
                elif isinstance(outcome, policy.Freshen):
                    log.debug("%s: %s", req.url, outcome.reason)
                    self.replace(outcome.stored, outcome.fresh)
            finally:
                _release(stored)
