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

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Collection, Mapping, Optional, Union

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.models import PreparedRequest, Response
from requests.structures import CaseInsensitiveDict

from . import _messages, _transport, policy
from ._headers import Headers
from ._info import CacheInfo
from ._inspection import CachedResponse, CacheInspector
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
from .exceptions import HTTPCacheError, UnknownOptionError
from .heuristics import clean_fields
from .models import CacheOptions, Heuristic, RequestView, ResponseView, StoredResponse
from .serialize import Serializer

__all__ = ["CacheControlAdapter", "read_response"]


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
        resp = self._adapter._forward(request, **kwargs)
        options = self._adapter.controller.options
        if options.heuristic is not None and call.view.method in options.cacheable_methods:
            _apply_heuristic(options.heuristic, resp)
        return resp

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

    def annotate(self, resp: Response, info: CacheInfo, cache_status: Optional[str]) -> None:
        resp.cache_info = info  # type: ignore[attr-defined]
        if cache_status is not None:
            existing = resp.headers.get("Cache-Status")
            resp.headers["Cache-Status"] = f"{existing}, {cache_status}" if existing else cache_status


#: ``HTTPAdapter``'s own arguments, in order (checked here so that a misspelt option is
#: named as one, not reported by ``HTTPAdapter.__init__``).
_HTTP_ADAPTER_ARGS = ("pool_connections", "pool_maxsize", "max_retries", "pool_block")


def check_adapter_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Raise ``UnknownOptionError`` for a keyword that is neither an option nor one of
    ``HTTPAdapter``'s arguments, and for too many positional arguments."""
    unknown = sorted(name for name in kwargs if name not in _HTTP_ADAPTER_ARGS)
    if unknown:
        raise UnknownOptionError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: not a CacheOptions "
            f"field ({', '.join(f.name for f in dataclasses.fields(CacheOptions))}) nor an HTTPAdapter argument "
            f"({', '.join(_HTTP_ADAPTER_ARGS)})"
        )
    if len(args) > len(_HTTP_ADAPTER_ARGS):
        raise UnknownOptionError(f"too many positional arguments: {len(args)} after cacheable_methods")


def option_changes(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The ``CacheOptions`` fields among an entry point's arguments (its ``locals()``): every
    field is a keyword of ``CacheControl`` and ``CacheControlAdapter`` (a KeyError here, and
    tests/test_package.py, say when one is missing), None meaning "as ``options`` has it";
    an empty ``cacheable_methods`` (cachecontrol's default spelling) means the default."""
    changes = {name: arguments[name] for name in _OPTION_NAMES}
    changes["cacheable_methods"] = changes["cacheable_methods"] or None
    return changes


_OPTION_NAMES = tuple(field.name for field in dataclasses.fields(CacheOptions))


def build_controller(
    cache: Optional[BaseCache],
    options: Optional[CacheOptions],
    changes: Mapping[str, Any],
    cache_etags: bool,
    serializer: Optional[Serializer],
    controller_class: type[CacheController],
) -> CacheController:
    """The controller of ``CacheControl`` and ``CacheControlAdapter``: ``options`` (default
    ``CacheOptions()``) with each option given replacing its field, built the way
    cachecontrol builds one (``controller_class(cache, cache_etags=..., serializer=...)``)."""
    if not (isinstance(controller_class, type) and issubclass(controller_class, CacheController)):
        raise HTTPCacheError(f"controller_class must be a subclass of CacheController, not {controller_class!r}")
    built = (options or CacheOptions()).given(**changes)
    return controller_class(cache, cache_etags=cache_etags, serializer=serializer, options=built)


def _apply_heuristic(heuristic: Heuristic, resp: Response) -> None:
    """cachecontrol's heuristics: ``heuristic.apply`` the origin's response (the urllib3
    response, ``resp.raw``, as cachecontrol does) before it is considered for storing; the
    fields it sets become ``resp.headers`` as well."""
    raw = resp.raw
    if raw is None or not hasattr(raw, "headers"):
        return
    applied = heuristic.apply(raw)
    if applied is not None and applied is not raw and hasattr(applied, "headers"):
        resp.raw = raw = applied
    fields = raw.headers
    if not all(type(name) is str and type(value) is str for name, value in fields.items()):
        # an apply() of the user's set something that is not text: as text, or left out
        cleaned = clean_fields(heuristic, list(fields.items()))
        try:
            raw.headers = fields = type(fields)(cleaned)  # urllib3's HTTPHeaderDict takes pairs
        except Exception:  # noqa: BLE001 - a mapping of another kind
            raw.headers = fields = CaseInsensitiveDict(cleaned)
    resp.headers = CaseInsensitiveDict(fields)


class CacheControlAdapter(HTTPAdapter):
    """A transport adapter that answers from the cache where RFC 9111 allows.

    ``CacheControlAdapter(cache=None, cache_etags=True, controller_class=None,
    serializer=None, heuristic=None, cacheable_methods=None, *HTTPAdapter args, <every
    CacheOptions field>=None, options=None, controller=None, adapter=None, **HTTPAdapter
    kwargs)``: cachecontrol's positional arguments first. Mount it with
    ``session.mount(prefix, adapter)``, or let ``CacheControl`` do it.
    """

    #: The methods whose non-error responses invalidate the URL (RFC 9111 §4.4): every
    #: method that is not safe (these, and any method the cache does not know). Informative:
    #: the rule is the policy's, not this attribute's (cachecontrol's has no POST).
    invalidating_methods = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(
        self,
        cache: Optional[BaseCache] = None,
        cache_etags: bool = True,
        controller_class: Optional[type[CacheController]] = None,
        serializer: Optional[Serializer] = None,
        heuristic: Optional[Heuristic] = None,
        cacheable_methods: Optional[Collection[str]] = None,
        *args: Any,
        shared: Optional[bool] = None,
        heuristic_fraction: Optional[float] = None,
        heuristic_max: Optional[float] = None,
        permanent_redirect_lifetime: Optional[float] = None,
        max_variants: Optional[int] = None,
        surrogate: Optional[str] = None,
        targeted_fields: Optional[tuple[str, ...]] = None,
        coalesce_timeout: Optional[float] = None,
        cache_status: Optional[str] = None,
        cacheable_status_codes: Optional[Collection[int]] = None,
        revalidate: Optional[bool] = None,
        expire_after: Union[float, timedelta, None] = None,
        urls_expire_after: Optional[UrlRulesArg] = None,
        max_ttl: Union[float, timedelta, None] = None,
        filter_fn: Optional[Callable[[Response], bool]] = None,
        ignored_parameters: Optional[tuple[str, ...]] = None,
        match_headers: Optional[tuple[str, ...]] = None,
        mode: Optional[str] = None,
        raise_on_miss: Optional[bool] = None,
        key_fn: Optional[Callable[[str], str]] = None,
        options: Optional[CacheOptions] = None,
        controller: Optional[CacheController] = None,
        adapter: Optional[BaseAdapter] = None,
        **kwargs: Any,
    ) -> None:
        check_adapter_arguments(args, kwargs)
        changes = option_changes(locals())
        if controller is None:
            controller = build_controller(
                cache, options, changes, cache_etags, serializer, controller_class or CacheController
            )
        elif (
            cache is not None
            or options is not None
            or serializer is not None
            or controller_class is not None
            or cache_etags is not True
            or any(v is not None for v in changes.values())
        ):
            raise HTTPCacheError("pass either controller or cache/options, not both")
        super().__init__(*args, **kwargs)
        self.controller = controller
        # A subclass that overrides build_response gets it called for every response;
        # otherwise a hit is built directly, as build_response would build it (see _build_hit).
        self._own_build = type(self).build_response is HTTPAdapter.build_response and _messages._CID_STORE
        self._inner = adapter
        self.engine: Engine[_Sending, Response] = Engine(controller, _RequestsTransport(self))

    @property
    def cache(self) -> BaseCache:
        """The store (cachecontrol's attribute)."""
        return self.controller.cache

    @cache.setter
    def cache(self, cache: BaseCache) -> None:
        self.controller.cache = cache

    @property
    def heuristic(self) -> Optional[Heuristic]:
        """``CacheOptions.heuristic`` (cachecontrol's attribute). Setting it changes the
        controller's options: every adapter sharing this controller (all those one
        ``CacheControl`` call mounted) uses the new heuristic."""
        return self.controller.options.heuristic

    @heuristic.setter
    def heuristic(self, heuristic: Optional[Heuristic]) -> None:
        self.controller.options = self.controller.options.replace(heuristic=heuristic)

    @property
    def cacheable_methods(self) -> tuple[str, ...]:
        """``CacheOptions.cacheable_methods`` (cachecontrol's attribute). Setting it changes
        the controller's options, for every adapter sharing this controller."""
        return self.controller.options.cacheable_methods

    @cacheable_methods.setter
    def cacheable_methods(self, methods: Collection[str]) -> None:
        self.controller.options = self.controller.options.replace(cacheable_methods=methods)

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


def read_response(inspector: CacheInspector, item: CachedResponse, now: Optional[float] = None) -> Optional[Response]:
    """A stored response read back as a ``requests.Response`` (its body read whole and
    checked, ``Age`` as of ``now``, RFC 9111 §5.1; ``from_cache`` True), or None if it is
    no longer stored or its body turns out damaged. ``item`` comes from
    ``inspector.responses()``; nothing is sent, and the session's hooks do not run."""
    entry = inspector.open(item)
    if entry is None:
        return None
    with entry:
        body = _transport.whole_body(entry)
        if body is None or _transport.damaged(entry):
            return None
        stored = entry.head
        age = policy.current_age(stored, inspector.clock() if now is None else now)
        request = requests.Request(stored.method, stored.url).prepare()
        lines = [(n, v) for n, v in stored.headers.items() if n.lower() != "age"]
        raw = _raw_response(request, stored.status, stored.reason, lines, policy.age_header(age), body, False)
        builder = HTTPAdapter()
        try:
            resp = builder.build_response(request, raw)
        finally:
            builder.close()
        return _mark(_preloaded(resp, body), True)
