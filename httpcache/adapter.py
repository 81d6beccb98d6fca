"""``CacheControlAdapter``: with ``_messages``, the only code that touches ``requests``
and ``urllib3``.

It turns a ``PreparedRequest`` into a view for the policy, dispatches on the
policy's decision, and builds ``requests.Response`` objects from stored
responses (``_messages`` has the views and the building). Sending is delegated
to a wrapped adapter when one is given (so a user's own adapter, retries and
pool settings keep working), else to ``HTTPAdapter`` itself.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any, Callable, Mapping, Optional, Union

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.models import PreparedRequest, Response

from . import _coalesce, policy
from ._body import PIECE as _PIECE
from ._headers import Headers
from ._messages import (
    _CID_STORE,
    _body_of,
    _build_hit,
    _discard,
    _expected_length,
    _hit_template,
    _mark,
    _preloaded,
    _raw_response,
    _request_view,
    _response_view,
    _whole_body,
    _with_fields,
)
from ._tee import install_tee
from .cache import BaseCache
from .controller import CacheController, Lookup
from .exceptions import HTTPCacheError
from .keys import cache_key
from .models import CacheOptions, RequestView, ResponseView, StoredResponse

log = logging.getLogger("httpcache")

__all__ = ["CacheControlAdapter"]

#: Timeout for background revalidation when the caller's request had none.
_BACKGROUND_TIMEOUT = 30.0
_TRANSPORT_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)
#: RFC 5861 §4: the error statuses for which stale-if-error applies.
_STALE_IF_ERROR_STATUSES = frozenset({500, 502, 503, 504})


def _damaged(stored: StoredResponse) -> bool:
    """Is a body kept in the store damaged? Checked against its checksum (once per opened
    body: a later read of it does not check again); a damaged entry is deleted (see
    ``_body``). A body the store fails to read here is not known to be damaged: it is
    read in pieces, as it is served."""
    if stored.stream is None:
        return False  # a whole value, checked before it was decoded
    try:
        stored.stream.verify()
    except OSError:
        pass
    return stored.stream.intact is False


class CacheControlAdapter(HTTPAdapter):
    """A transport adapter that answers from the cache where RFC 9111 allows.

    ``CacheControlAdapter(cache=None, *, shared=False, heuristic_fraction=0.1,
    heuristic_max=86400, max_variants=16, surrogate=None, adapter=None, controller=None,
    **HTTPAdapter kwargs)``. Mount it with ``session.mount(prefix, adapter)``,
    or let ``CacheControl`` do it.
    """

    def __init__(
        self,
        cache: Optional[BaseCache] = None,
        *,
        shared: Optional[bool] = None,
        heuristic_fraction: Optional[float] = None,
        heuristic_max: Optional[float] = None,
        permanent_redirect_lifetime: Optional[float] = None,
        max_variants: Optional[int] = None,
        surrogate: Optional[str] = None,
        targeted_fields: Optional[tuple[str, ...]] = None,
        coalesce_timeout: Optional[float] = None,
        options: Optional[CacheOptions] = None,
        controller: Optional[CacheController] = None,
        adapter: Optional[BaseAdapter] = None,
        **kwargs: Any,
    ) -> None:
        changes = {
            "shared": shared,
            "heuristic_fraction": heuristic_fraction,
            "heuristic_max": heuristic_max,
            "permanent_redirect_lifetime": permanent_redirect_lifetime,
            "max_variants": max_variants,
            "surrogate": surrogate,
            "targeted_fields": targeted_fields,
            "coalesce_timeout": coalesce_timeout,
        }
        if controller is None:
            controller = CacheController(cache, (options or CacheOptions()).given(**changes))
        elif cache is not None or options is not None or any(v is not None for v in changes.values()):
            raise HTTPCacheError("pass either controller or cache/options, not both")
        super().__init__(**kwargs)
        self.controller = controller
        # A subclass that overrides build_response gets it called for every response;
        # otherwise a hit is built directly, as build_response would build it (see _build_hit).
        self._own_build = type(self).build_response is HTTPAdapter.build_response and _CID_STORE
        self._inner = adapter

    # -- sending ----------------------------------------------------------------------

    def _forward(self, request: PreparedRequest, **kwargs: Any) -> Response:
        token = self.controller.options.surrogate
        if token is not None:
            # W3C Edge Architecture §2: a surrogate announces itself to the origin
            capability = f'{token}="Surrogate/1.0"'
            existing = request.headers.get("Surrogate-Capability")
            request = request.copy()
            request.headers["Surrogate-Capability"] = f"{existing}, {capability}" if existing else capability
        if self._inner is not None:
            return self._inner.send(request, **kwargs)
        return super().send(request, **kwargs)

    def send(  # type: ignore[override]
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Union[float, tuple[Optional[float], Optional[float]], Any, None] = None,
        verify: Union[bool, str] = True,
        cert: Union[str, tuple[str, str], None] = None,
        proxies: Optional[Mapping[str, str]] = None,
    ) -> Response:
        kwargs: dict[str, Any] = {
            "stream": stream,
            "timeout": timeout,
            "verify": verify,
            "cert": cert,
            "proxies": proxies,
        }
        view = _request_view(request)
        if view.method not in policy.CACHEABLE_METHODS:
            request_time = self.controller.clock()
            resp = self._forward(request, **kwargs)
            rv = _response_view(resp)
            urls = policy.invalidation_urls(view, rv)
            if urls:
                self.controller.invalidate(urls)
            as_get = policy.post_response_as_get(view, rv, self.controller.options)
            if as_get is not None:
                self._tee_into_store(resp, as_get, rv, request_time, self.controller.clock())
            return _mark(resp, False)
        if policy.has_preconditions(view):
            log.debug("%s %s passes through: precondition fields (RFC 9110 §13.1)", view.method, view.url)
            return _mark(self._forward(request, **kwargs), False)
        if "range" in view.headers:
            return self._range(request, view, kwargs)

        lookup = self.controller.lookup(view)
        try:
            return self._dispatch(request, view, lookup, kwargs)
        finally:
            lookup.release()

    def _dispatch(
        self, request: PreparedRequest, view: RequestView, lookup: Lookup, kwargs: dict[str, Any]
    ) -> Response:
        decision = lookup.decision
        if isinstance(decision, (policy.Fresh, policy.StaleAllowed)):
            assert lookup.stored is not None
            return self._from_cache(request, view, lookup.stored, decision.age, kwargs)
        if isinstance(decision, policy.StaleWhileRevalidate):
            assert lookup.stored is not None
            self._refresh_later(request, view, lookup.stored, decision, kwargs)
            return self._from_cache(request, view, lookup.stored, decision.age, kwargs)
        if isinstance(decision, policy.GatewayTimeout):
            return self._gateway_timeout(request)
        if isinstance(decision, policy.Validate):
            assert lookup.stored is not None
            return self._validate(request, view, lookup.stored, decision, kwargs)
        if isinstance(decision, policy.Miss):
            return self._fetch_coalesced(request, view, kwargs)
        raise AssertionError(decision)

    def _fetch_coalesced(self, request: PreparedRequest, view: RequestView, kwargs: dict[str, Any]) -> Response:
        """A miss: one origin request per key at a time in this process (and, with a store
        that grants leases, across processes); concurrent misses wait for it to be stored
        and are served from the cache. The wait is bounded by ``coalesce_timeout`` and by
        the caller's own timeout, and ends at once when waiting cannot pay off (see
        ``_coalesce``)."""
        limit = self.controller.options.coalesce_timeout
        if limit <= 0 or view.method != "GET":
            return self._fetch(request, view, None, kwargs)
        key = cache_key(view.method, view.url)
        caller_bound = _coalesce.wait_bound(kwargs.get("timeout"))
        bound = limit if caller_bound is None else min(limit, caller_bound)
        coalescer = self.controller.coalescer
        role, flight = coalescer.join(key, limit)
        if role == _coalesce.PASS or flight is None:
            return self._fetch(request, view, None, kwargs, coalesce_key=key)
        if role == _coalesce.FOLLOW:
            return self._follow(request, view, flight, bound, caller_bound, kwargs)
        token: Optional[str] = None
        try:
            token, served = self._take_lease(request, view, key, limit, bound, kwargs)
        except BaseException:
            coalescer.release(key, flight)
            raise
        if served is not None:
            coalescer.release(key, flight)
            return served

        lease = token

        def release() -> None:  # once stored, known not to be, or handed to a streaming caller
            nonlocal token
            held, token = token, None
            if held:
                self.controller.unlease(key, held)
            coalescer.release(key, flight)

        request_time = self.controller.clock()
        try:
            resp = self._forward(request, **kwargs)
        except BaseException:
            release()
            raise
        flight.responded = True
        resp = self._received(
            view, resp, request_time, self.controller.clock(), None, on_finish=release, coalesce_key=key, shared=lease
        )
        if kwargs.get("stream"):
            # handed to a caller who streams it: nobody waits on how (or whether) it is read
            release()
        return resp

    def _follow(
        self,
        request: PreparedRequest,
        view: RequestView,
        flight: _coalesce.Flight,
        bound: float,
        caller_bound: Optional[float],
        kwargs: dict[str, Any],
    ) -> Response:
        """Wait, at most ``bound`` seconds, for the leader's response to be stored, and be
        served it. A caller whose own timeout ran out before the leader even had a response
        gets the timeout it asked for, as its own request would have."""
        if flight.done.wait(bound):
            served = self._served_from_cache(request, view, kwargs)
            if served is not None:
                return served
        elif caller_bound is not None and caller_bound <= bound and not flight.responded:
            raise requests.exceptions.ReadTimeout(
                f"no response within the caller's timeout ({caller_bound:g} s) to a request for {view.url} "
                "already on its way to the origin for a concurrent caller",
                request=request,
            )
        return self._fetch(request, view, None, kwargs)

    def _served_from_cache(
        self, request: PreparedRequest, view: RequestView, kwargs: dict[str, Any]
    ) -> Optional[Response]:
        """A response from the cache if it now holds one that may be used as is."""
        lookup = self.controller.lookup(view)
        try:
            if isinstance(lookup.decision, (policy.Fresh, policy.StaleAllowed)) and lookup.stored is not None:
                return self._from_cache(request, view, lookup.stored, lookup.decision.age, kwargs)
            return None
        finally:
            lookup.release()

    def _take_lease(
        self,
        request: PreparedRequest,
        view: RequestView,
        key: str,
        seconds: float,
        bound: float,
        kwargs: dict[str, Any],
    ) -> tuple[Optional[str], Optional[Response]]:
        """Coalescing across processes: take the store's lease on ``key`` for ``seconds``
        (the token), or wait, at most ``bound`` seconds, while another process holds it, and be served what
        it stored. Past the bound, once its lease is gone with nothing stored, or once it
        has marked the key "pass" (its response is not storable), the caller fetches (with
        the lease if it got it)."""
        token = self.controller.lease(key, seconds)
        if token is not None:
            return token, None
        if self._passed(key):
            return None, None
        log.debug("%s: another process is fetching it; waiting for its response", view.url)
        deadline = time.monotonic() + bound
        pause = 0.005
        while time.monotonic() < deadline:
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.1)
            served = self._served_from_cache(request, view, kwargs)
            if served is not None:
                return None, served
            if self._passed(key):
                return None, None
            token = self.controller.lease(key, seconds)
            if token is not None:
                served = self._served_from_cache(request, view, kwargs)  # stored just before it let go
                if served is not None:
                    self.controller.unlease(key, token)
                    return None, served
                return token, None
        return None, None

    def _passed(self, key: str) -> bool:
        """Has another process marked ``key`` "pass" (not storable, recently)? Then this
        process does not coalesce it either, for as long."""
        if not _coalesce.is_pass(self.controller._get(_coalesce.pass_key(key)), time.time()):
            return False
        self.controller.coalescer.mark_pass(key)
        return True

    def _range(self, request: PreparedRequest, view: RequestView, kwargs: dict[str, Any]) -> Response:
        """RFC 9111 §3.4: a Range request is served from a stored complete response or a
        stored 206 when they hold the range and may be used; else it goes to the origin,
        and a 200 or single-range 206 answer is stored (§3.3)."""
        spec = policy.requested_range(view)
        if spec is not None:
            for partial in (False, True):
                lookup = self.controller.lookup(view, partial=partial)
                try:
                    if isinstance(lookup.decision, (policy.Fresh, policy.StaleAllowed)) and lookup.stored is not None:
                        served = policy.range_from_stored(spec, lookup.stored)
                        if served is not None and not _damaged(lookup.stored):  # damaged: fetched instead
                            return self._partial(request, lookup.stored, served, lookup.decision.age)
                finally:
                    lookup.release()
        return self._fetch(request, view, None, kwargs)

    def _partial(
        self, request: PreparedRequest, stored: StoredResponse, served: tuple[int, int, int, int], age: float
    ) -> Response:
        """A 206 for one range of a stored response (RFC 9110 §15.3.7)."""
        first, last, length, start = served
        size = last - first + 1
        headers = stored.headers.without(("content-length", "content-range"))
        headers = headers.replaced(
            Headers([("Content-Range", f"bytes {first}-{last}/{length}"), ("Content-Length", str(size))])
        )
        body = _body_of(stored, start, start + size)
        if body is None:  # the lookup holds the body open until the response is built
            raise AssertionError("stored body let go too early")
        return self._build(request, 206, "Partial Content", headers, body, age)

    def _fetch(
        self,
        request: PreparedRequest,
        view: RequestView,
        replaces: Optional[StoredResponse],
        kwargs: dict[str, Any],
        coalesce_key: Optional[str] = None,
    ) -> Response:
        request_time = self.controller.clock()
        resp = self._forward(request, **kwargs)
        return self._received(view, resp, request_time, self.controller.clock(), replaces, coalesce_key=coalesce_key)

    def _refresh_later(
        self,
        request: PreparedRequest,
        view: RequestView,
        stored: StoredResponse,
        decision: policy.StaleWhileRevalidate,
        kwargs: dict[str, Any],
    ) -> None:
        """RFC 5861 §3: revalidate ``stored`` in the background (bounded, one per key)."""
        to_send = request.copy()
        for name in policy.CONDITIONAL_FIELDS:
            to_send.headers.pop(name, None)
        for name, value in decision.headers:
            to_send.headers[name] = value
        refresh_kwargs = dict(kwargs, stream=False)
        if refresh_kwargs.get("timeout") is None:
            refresh_kwargs["timeout"] = _BACKGROUND_TIMEOUT
        refresh_view = RequestView(view.method, view.url, Headers(to_send.headers.items()))
        held = stored.stream is not None and stored.stream.acquire()

        def job() -> None:
            try:
                request_time = self.controller.clock()
                resp = self._forward(to_send, **refresh_kwargs)
                response_time = self.controller.clock()
                try:
                    rv = _response_view(resp)
                    if resp.status_code == 304 and policy.validator_matches(stored, rv):
                        self.controller.freshen(stored, rv, request_time, response_time, refresh_view)
                    elif resp.status_code != 304:
                        self._received(refresh_view, resp, request_time, response_time, stored)
                        for _ in resp.iter_content(_PIECE):
                            pass  # reading it through the tee stores it
                finally:
                    resp.close()
                log.debug("revalidated %s in the background (RFC 5861 §3)", view.url)
            finally:
                if held and stored.stream is not None:
                    stored.stream.release()

        key = f"{view.method} {view.url}"
        if not self.controller.refresher.submit(key, job):
            log.debug("background revalidation of %s already running or pool full", view.url)
            if held and stored.stream is not None:
                stored.stream.release()

    def _validate(
        self,
        request: PreparedRequest,
        view: RequestView,
        stored: StoredResponse,
        decision: policy.Validate,
        kwargs: dict[str, Any],
    ) -> Response:
        """RFC 9111 §4.3: send the request (conditional where we can) and use the answer."""
        user_conditional = policy.is_conditional(view)
        to_send = request
        if decision.headers and not user_conditional:
            to_send = _with_fields(request, decision.headers)
        request_time = self.controller.clock()
        try:
            resp = self._forward(to_send, **kwargs)
        except _TRANSPORT_ERRORS:
            if decision.stale_if_error:
                log.debug("origin unreachable: serving stale %s (RFC 5861 §4)", view.url)
                return self._from_cache(
                    request, view, stored, policy.current_age(stored, self.controller.clock()), kwargs
                )
            raise
        response_time = self.controller.clock()
        status = resp.status_code
        if status == 304:
            rv = _response_view(resp)
            if policy.validator_matches(stored, rv):
                fresh = self.controller.freshen(stored, rv, request_time, response_time, view)
                if user_conditional:
                    return _mark(resp, False)
                _discard(resp)
                log.debug("revalidated %s (RFC 9111 §4.3.4)", view.url)
                return self._from_cache(
                    request, view, fresh, policy.current_age(fresh, self.controller.clock()), kwargs
                )
            if not user_conditional:
                # A 304 to our conditional whose validator contradicts the one we sent
                # (§4.3.4 selects nothing). It still says the representation we asked
                # about is current, so that is served, as it is; it is no longer trusted
                # to be stored (the next request fetches it whole). Never a 304 to a
                # caller who did not ask conditionally, and never a second request.
                _discard(resp)
                self._warn_contradiction(view.url, stored, rv)
                self.controller.remove(stored)
                return self._from_cache(
                    request, view, stored, policy.current_age(stored, self.controller.clock()), kwargs
                )
        if status in _STALE_IF_ERROR_STATUSES and decision.stale_if_error:
            _discard(resp)
            log.debug("origin error %d: serving stale %s (RFC 5861 §4)", status, view.url)
            return self._from_cache(request, view, stored, policy.current_age(stored, self.controller.clock()), kwargs)
        return self._received(view, resp, request_time, response_time, stored)

    def _warn_contradiction(self, url: str, stored: StoredResponse, rv: ResponseView) -> None:
        log.warning(
            "%s: the origin answered our conditional request (ETag %s, Last-Modified %s) with a 304 "
            "carrying ETag %s, Last-Modified %s; served the stored response once and dropped it (RFC 9111 §4.3.4)",
            url,
            stored.headers.get("etag"),
            stored.headers.get("last-modified"),
            rv.headers.get("etag"),
            rv.headers.get("last-modified"),
        )

    def _received(
        self,
        view: RequestView,
        resp: Response,
        request_time: float,
        response_time: float,
        replaces: Optional[StoredResponse],
        on_finish: Optional[Callable[[], None]] = None,
        coalesce_key: Optional[str] = None,
        shared: Optional[str] = None,
    ) -> Response:
        """A response from the origin: tee it into the store if it may be stored (§3).
        ``on_finish`` is called once it is stored, or known not to be. ``coalesce_key``:
        the miss was (or would have been) coalesced under this key, which is marked "pass"
        when the response is not storable (in the store too when ``shared``, the lease
        token, says other processes wait on it), and unmarked when it is."""
        rv = _response_view(resp)
        if view.method == "HEAD" and rv.status == 200:
            self.controller.head_response(view, rv, request_time, response_time)
        reason = policy.not_storable_reason(view, rv, self.controller.options)
        if reason is not None:
            log.debug("not stored: %s %s: %s", view.method, view.url, reason)
            if replaces is not None and rv.status < 500 and rv.status != 304:
                self.controller.remove(replaces)
        elif self._tee_into_store(resp, view, rv, request_time, response_time, on_finish):
            if coalesce_key is not None:
                self.controller.coalescer.storable(coalesce_key)
            return _mark(resp, False)
        # not stored (not storable, or the store declines it: too large, down)
        if coalesce_key is not None:
            self._mark_pass(coalesce_key, shared)
        if on_finish is not None:
            on_finish()
        return _mark(resp, False)

    def _mark_pass(self, key: str, shared: Optional[str]) -> None:
        """Misses for ``key`` go straight to the origin for a while: its answer is not
        storable (hit-for-pass). ``shared``: other processes may be waiting on our lease."""
        self.controller.coalescer.mark_pass(key)
        if shared:
            self.controller._set(
                _coalesce.pass_key(key), _coalesce.pass_marker(time.time()), _coalesce.PASS_SECONDS
            )

    def _tee_into_store(
        self,
        resp: Response,
        view: RequestView,
        rv: ResponseView,
        request_time: float,
        response_time: float,
        on_finish: Optional[Callable[[], None]] = None,
    ) -> bool:
        """Store ``resp`` as the answer to ``view`` once the caller has read all of it, then
        call ``on_finish``; False (and ``on_finish`` not called) when it is known at once
        that it will not be stored."""
        expected = _expected_length(view.method, rv)
        sink = self.controller.begin_store(view, rv, request_time, response_time, expected)
        if sink is None:
            log.debug("not stored: %s %s: the store will not take it now", view.method, view.url)
            return False
        if not install_tee(resp.raw, expected, sink, on_finish):
            log.debug("not stored: %s %s: body is not readable by the cache", view.method, view.url)
            sink.abort()
            return False
        return True

    # -- building responses ---------------------------------------------------------

    def _from_cache(
        self, request: PreparedRequest, view: RequestView, stored: StoredResponse, age: float, kwargs: dict[str, Any]
    ) -> Response:
        if policy.is_conditional(view) and policy.evaluate_conditional(view, stored):
            # RFC 9111 §4.3.2: the client's own copy is current
            return self._build(request, 304, "Not Modified", policy.not_modified_headers(stored), b"", age)
        template = stored.derived("hit_template", _hit_template)
        preload = not kwargs.get("stream") and template.identity
        body: Union[bytes, io.RawIOBase, None] = (
            b"" if view.method == "HEAD" else _whole_body(stored) if preload else None
        )
        if body is None and not kwargs.get("stream") and _damaged(stored):
            # damaged in the store (the entry is gone): a miss, for a caller who reads it whole;
            # one who streams it meets the damage as a broken transfer, before its last piece
            log.debug("stored body of %s damaged: fetched from the origin instead", view.url)
            return self._fetch(request, view, None, kwargs)
        if body is None:
            body = _body_of(stored)
        if body is None:  # the lookup holds the body open until the response is built
            raise AssertionError("stored body let go too early")
        if self._own_build:
            return _build_hit(self, request, stored, template, body, age, preload)
        return self._build(request, stored.status, stored.reason, stored.headers, body, age, preload)

    def _build(
        self,
        request: PreparedRequest,
        status: int,
        reason: str,
        headers: Headers,
        body: Union[bytes, io.RawIOBase],
        age: Optional[float],
        preload: bool = False,
    ) -> Response:
        """A response from the cache. ``preload``: the caller did not ask to stream and the
        body has no content coding, so it is handed over as already read (``content``), as
        ``requests`` itself would have left it after reading it."""
        preloaded = preload and isinstance(body, bytes)
        lines = headers.items() if age is None else [(n, v) for n, v in headers.items() if n.lower() != "age"]
        age_value = None if age is None else policy.age_header(age)  # RFC 9111 §5.1
        resp = self.build_response(request, _raw_response(request, status, reason, lines, age_value, body, preloaded))
        return _mark(_preloaded(resp, body) if preloaded else resp, age is not None)

    def _gateway_timeout(self, request: PreparedRequest) -> Response:
        """RFC 9111 §5.2.1.7: only-if-cached with nothing usable stored."""
        return self._build(request, 504, "Gateway Timeout", Headers([("Content-Length", "0")]), b"", None)

    def close(self) -> None:
        """Close the wrapped adapter's connections and stop background revalidation.
        The store is the caller's to close."""
        self.controller.refresher.shutdown()
        if self._inner is not None:
            self._inner.close()
        super().close()
