"""``CacheControlAdapter``: the transport for ``requests``. With ``_messages``, the only
code that touches ``requests`` and ``urllib3``.

The flows (what to serve, revalidate, store, coalesce) are the engine's
(``engine.Engine``); this module gives it what it needs of ``requests``: a view of a
``PreparedRequest`` and of each response, sending (delegated to a wrapped adapter when one
is given, so a user's own adapter, retries and pool settings keep working, else to
``HTTPAdapter`` itself), teeing a body into the store, and building ``requests.Response``
objects from stored responses (``_messages`` has the views and the building).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Mapping, Optional, Union

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.models import PreparedRequest, Response

from . import _messages, policy
from ._headers import Headers
from ._messages import (
    _build_hit,
    _discard,
    _mark,
    _preloaded,
    _raw_response,
    _request_view,
    _response_view,
    _with_fields,
    install_tee,
)
from ._rules import UrlRulesArg
from ._tee import Sink
from .cache import BaseCache
from .controller import CacheController
from .engine import BACKGROUND_TIMEOUT, PIECE, Body, Call, Engine, Fields
from .exceptions import HTTPCacheError
from .models import CacheOptions, RequestView, ResponseView, StoredResponse

__all__ = ["CacheControlAdapter"]


def wait_bound(timeout: object) -> Optional[float]:
    """How long a caller with requests' ``timeout`` may wait for another caller's fetch:
    its read timeout, connect + read for a tuple, a urllib3 ``Timeout``'s total; None
    when it set no bound."""
    if timeout is None or isinstance(timeout, bool):
        return None
    if isinstance(timeout, (int, float)):
        return max(0.0, float(timeout))
    if isinstance(timeout, tuple) and len(timeout) == 2:
        parts = timeout
    else:
        total = getattr(timeout, "total", None)
        if isinstance(total, (int, float)) and not isinstance(total, bool):
            return max(0.0, float(total))
        parts = (getattr(timeout, "connect_timeout", None), getattr(timeout, "read_timeout", None))
    if all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in parts):
        return max(0.0, float(parts[0]) + float(parts[1]))
    return None


@dataclass(frozen=True)
class _Sending:
    """A ``requests`` request as the engine carries it: the prepared request and the
    keyword arguments ``send`` was given (stream, timeout, verify, cert, proxies)."""

    prepared: PreparedRequest
    kwargs: Mapping[str, Any]


_Call = Call[_Sending]


class _RequestsTransport:
    """``engine.Transport`` for ``requests``, on behalf of one ``CacheControlAdapter``."""

    unreachable: tuple[type[BaseException], ...] = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)

    def __init__(self, adapter: CacheControlAdapter) -> None:
        self._adapter = adapter

    def send(self, call: _Call, fields: Fields = (), drop: tuple[str, ...] = (), background: bool = False) -> Response:
        request, kwargs = call.request.prepared, call.request.kwargs
        if fields or drop:
            request = _with_fields(request, fields, drop)
        if background:
            kwargs = dict(kwargs, stream=False)
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = BACKGROUND_TIMEOUT
        return self._adapter._forward(request, **kwargs)

    def view(self, resp: Response) -> ResponseView:
        return _response_view(resp)

    def tee(self, resp: Response, expected: Optional[int], sink: Sink, on_finish: Optional[Callable[[], None]]) -> bool:
        return install_tee(resp.raw, expected, sink, on_finish)

    def discard(self, resp: Response) -> None:
        _discard(resp)

    def drain(self, resp: Response) -> None:
        try:
            for _ in resp.iter_content(PIECE):
                pass
        finally:
            resp.close()

    def forwarded(self, resp: Response) -> Response:
        return _mark(resp, False)

    def hit(self, call: _Call, stored: StoredResponse, body: Body, age: float, preloaded: bool) -> Response:
        adapter, request = self._adapter, call.request.prepared
        if adapter._own_build:
            return _build_hit(adapter, request, stored, body, age, preloaded)
        return self._build(request, stored.status, stored.reason, stored.headers, body, age, preloaded)

    def build(
        self, call: _Call, status: int, reason: str, headers: Headers, body: bytes, age: Optional[float]
    ) -> Response:
        return self._build(call.request.prepared, status, reason, headers, body, age, False)

    def _build(
        self,
        request: PreparedRequest,
        status: int,
        reason: str,
        headers: Headers,
        body: Body,
        age: Optional[float],
        preloaded: bool,
    ) -> Response:
        """A response from the cache through the adapter's ``build_response`` (which a
        subclass may override). ``preloaded``: the body is bytes handed over as already
        read (``content``), as ``requests`` itself would have left it after reading it."""
        preloaded = preloaded and isinstance(body, bytes) and _messages._PRELOAD
        lines = headers.items() if age is None else [(n, v) for n, v in headers.items() if n.lower() != "age"]
        age_value = None if age is None else policy.age_header(age)  # RFC 9111 §5.1
        raw = _raw_response(request, status, reason, lines, age_value, body, preloaded)
        resp = self._adapter.build_response(request, raw)
        return _mark(_preloaded(resp, body) if preloaded else resp, age is not None)

    def timed_out(self, call: _Call, message: str) -> BaseException:
        return requests.exceptions.ReadTimeout(message, request=call.request.prepared)


class CacheControlAdapter(HTTPAdapter):
    """A transport adapter that answers from the cache where RFC 9111 allows.

    ``CacheControlAdapter(cache=None, *, shared=False, heuristic_fraction=0.1,
    heuristic_max=86400, max_variants=16, surrogate=None, ..., options=None, adapter=None,
    controller=None, **HTTPAdapter kwargs)``: every field of ``CacheOptions`` is a keyword.
    Mount it with ``session.mount(prefix, adapter)``, or let ``CacheControl`` do it.
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
        expire_after: Union[float, timedelta, None] = None,
        urls_expire_after: Optional[UrlRulesArg] = None,
        max_ttl: Union[float, timedelta, None] = None,
        filter_fn: Optional[Callable[[Response], bool]] = None,
        ignored_parameters: Optional[tuple[str, ...]] = None,
        match_headers: Optional[tuple[str, ...]] = None,
        mode: Optional[str] = None,
        raise_on_miss: Optional[bool] = None,
        cacheable_methods: Optional[tuple[str, ...]] = None,
        key_fn: Optional[Callable[[str], str]] = None,
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
            "expire_after": expire_after,
            "urls_expire_after": urls_expire_after,
            "max_ttl": max_ttl,
            "filter_fn": filter_fn,
            "ignored_parameters": ignored_parameters,
            "match_headers": match_headers,
            "mode": mode,
            "raise_on_miss": raise_on_miss,
            "cacheable_methods": cacheable_methods,
            "key_fn": key_fn,
        }
        if controller is None:
            controller = CacheController(cache, (options or CacheOptions()).given(**changes))
        elif cache is not None or options is not None or any(v is not None for v in changes.values()):
            raise HTTPCacheError("pass either controller or cache/options, not both")
        super().__init__(**kwargs)
        self.controller = controller
        # A subclass that overrides build_response gets it called for every response;
        # otherwise a hit is built directly, as build_response would build it (see _build_hit).
        self._own_build = type(self).build_response is HTTPAdapter.build_response and _messages._CID_STORE
        self._inner = adapter
        self.engine: Engine[_Sending, Response] = Engine(controller, _RequestsTransport(self))

    def _forward(self, request: PreparedRequest, **kwargs: Any) -> Response:
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
        kwargs = {"stream": stream, "timeout": timeout, "verify": verify, "cert": cert, "proxies": proxies}
        view = _request_view(request)
        if view.method == "POST" and self.controller.options._post_cacheable:
            view = self._keyed_by_body(view, request.body)
        call = Call(_Sending(request, kwargs), view, bool(stream), wait_bound(timeout))
        return self.engine.handle(call)

    def _keyed_by_body(self, view: RequestView, body: object) -> RequestView:
        """A POST, when ``cacheable_methods`` has it, keyed by a digest of its body; a body
        that is not at hand as bytes (a file, a generator: sent as a stream) is not."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif body is None:
            body = b""
        if not isinstance(body, bytes):
            return view
        key = policy.body_key(body, view.headers.get("content-type"), self.controller.options)
        return RequestView(view.method, view.url, view.headers, key)

    def close(self) -> None:
        """Close the wrapped adapter's connections and stop background revalidation.
        The store is the caller's to close."""
        self.engine.close()
        if self._inner is not None:
            self._inner.close()
        super().close()
