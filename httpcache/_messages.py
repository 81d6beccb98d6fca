"""The ``requests`` and ``urllib3`` objects the adapter reads and builds: views of
requests and responses for the policy, stored bodies, and responses built from stored
ones. Private to ``adapter``."""

from __future__ import annotations

import functools
import io
import logging
from collections import OrderedDict
from typing import Any, Callable, Iterable, Optional, Union

from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest, Response
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3 import HTTPResponse
from urllib3._collections import HTTPHeaderDict

from . import policy
from ._headers import Headers
from ._tee import Sink, TeeReader
from .models import RequestView, ResponseView, StoredResponse

log = logging.getLogger("httpcache")

# -- every private part of requests and urllib3 used, each checked once, here -------------
#
# Each is a shortcut or a need of the transport. A check that fails (a version of the
# library keeps things differently) turns its use off: the public way is taken instead
# or, for the tee, responses are not stored, and that is logged once, at import.


def _cid_store_usable() -> bool:
    """requests keeps a CaseInsensitiveDict's lines as ``_store``: lower-cased name ->
    (name, value). Filling it directly is much cheaper than the mapping protocol."""
    store = getattr(CaseInsensitiveDict({"A": "b"}), "_store", None)
    return isinstance(store, OrderedDict) and list(store.items()) == [("a", ("A", "b"))]


def _raw_fp_usable() -> bool:
    """urllib3's response reads its body from ``_fp``, which a tee replaces (``install_tee``)."""
    raw = HTTPResponse(body=io.BytesIO(b"x"), preload_content=False)
    raw._fp = io.BytesIO(b"y")  # type: ignore[assignment]
    return raw.read() == b"y"


def _preload_usable() -> bool:
    """A ``Response`` whose ``_content`` is set and ``_content_consumed`` true is read: its
    ``content`` is that body, as requests leaves a response it has read."""
    resp = Response()
    if vars(resp).get("_content", None) is not False or "_content_consumed" not in vars(resp):
        return False
    resp._content = b"x"
    resp._content_consumed = True  # type: ignore[attr-defined]
    resp.raw = io.BytesIO(b"")
    return resp.content == b"x" and list(resp.iter_content(1)) == [b"x"]


def _request_dict_usable() -> bool:
    """A ``PreparedRequest`` is its ``__dict__``: a shallow copy of it with new headers is
    the same request with those headers (what ``PreparedRequest.copy`` does, without
    copying the cookie jar and body)."""
    request = PreparedRequest()
    request.prepare(method="GET", url="http://example.invalid/a", headers={"A": "b"})
    copy = PreparedRequest.__new__(PreparedRequest)
    copy.__dict__.update(request.__dict__)
    return (copy.method, copy.url, dict(copy.headers)) == ("GET", "http://example.invalid/a", {"A": "b"})


def _checked() -> dict[str, bool]:
    found = {}
    for name, check in (
        ("CaseInsensitiveDict._store", _cid_store_usable),
        ("HTTPResponse._fp", _raw_fp_usable),
        ("Response._content", _preload_usable),
        ("PreparedRequest.__dict__", _request_dict_usable),
    ):
        try:
            found[name] = bool(check())
        except Exception:  # noqa: BLE001 - a failed check turns the use off
            found[name] = False
    off = [name for name, ok in found.items() if not ok]
    if off:
        log.warning("httpcache: this requests/urllib3 differs from the ones tested; not used: %s", ", ".join(off))
    return found


_PRIVATE = _checked()
_CID_STORE = _PRIVATE["CaseInsensitiveDict._store"]
_RAW_FP = _PRIVATE["HTTPResponse._fp"]
_PRELOAD = _PRIVATE["Response._content"]
_REQUEST_DICT = _PRIVATE["PreparedRequest.__dict__"]

# -- views for the policy ------------------------------------------------------------------


def _request_view(request: PreparedRequest) -> RequestView:
    """The policy's view of a request."""
    url = request.url.decode("utf-8") if isinstance(request.url, bytes) else str(request.url or "")
    return RequestView((request.method or "GET").upper(), url, _request_headers(request.headers))


def _request_headers(fields: Any) -> Headers:
    """A request's header lines; read from a ``CaseInsensitiveDict``'s own lines, as they
    are, when every name and value is ``str`` (requests also sends bytes: read as Latin-1)."""
    if _CID_STORE and type(fields) is CaseInsensitiveDict:
        lines = tuple(fields._store.values())  # type: ignore[attr-defined]  # checked: _cid_store_usable
        if all(type(name) is str and type(value) is str for name, value in lines):
            return Headers.of_lines(lines)
    return Headers((_text(name), _text(value)) for name, value in fields.items())


def _text(value: object) -> str:
    """A field name or value as text: bytes (which requests sends as they are) as Latin-1."""
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


def _response_view(resp: Response) -> ResponseView:
    raw_headers = getattr(resp.raw, "headers", None)
    items: Any = raw_headers.items() if isinstance(raw_headers, HTTPHeaderDict) else resp.headers.items()
    return ResponseView(int(resp.status_code), Headers(items), resp.reason or "")


@functools.lru_cache(maxsize=256)
def _encoding_of(content_type: str) -> Optional[str]:
    """The text encoding requests gives a response of this Content-Type (memoised by the
    field value: few distinct ones)."""
    return get_encoding_from_headers(CaseInsensitiveDict({"Content-Type": content_type}))


def _with_fields(
    request: PreparedRequest, fields: tuple[tuple[str, str], ...], drop: tuple[str, ...] = ()
) -> PreparedRequest:
    """A copy of ``request`` with ``drop`` removed and ``fields`` set, the caller's left as it was. Only the
    header fields are copied: nothing on the way to the origin changes the rest (the
    cookie jar, whose copy ``PreparedRequest.copy`` makes, is read when a request is
    prepared, not when it is sent)."""
    if _REQUEST_DICT:
        copy = PreparedRequest.__new__(PreparedRequest)
        copy.__dict__.update(request.__dict__)
        copy.headers = request.headers.copy()
    else:
        copy = request.copy()
    for name in drop:
        copy.headers.pop(name, None)
    for name, value in fields:
        copy.headers[name] = value
    return copy


def _mark(resp: Response, from_cache: bool) -> Response:
    resp.from_cache = from_cache  # type: ignore[attr-defined]
    return resp


def _discard(resp: Response) -> None:
    """Read and release a response we will not hand over (keeps the connection reusable).
    A urllib3 response is drained as it is (no decoding, none of requests' reading
    machinery): a 304 has no content to read (RFC 9110 §15.4.5), only its end to reach."""
    raw = resp.raw
    if _RAW_FP and _PRELOAD and isinstance(raw, HTTPResponse) and not getattr(resp, "_content_consumed", True):
        raw.drain_conn()
        fp = getattr(raw, "_fp", None)
        if fp is None or (callable(getattr(fp, "isclosed", None)) and fp.isclosed()):
            raw.release_conn()  # read to its end: the connection goes back to the pool
        else:
            raw.close()  # draining failed: the connection is closed, never reused
        return
    try:
        resp.content  # noqa: B018 - drains the body
    except Exception:
        log.debug("error draining a discarded response", exc_info=True)
    finally:
        resp.close()


def _build_hit(
    connection: HTTPAdapter,
    request: PreparedRequest,
    stored: StoredResponse,
    body: Union[bytes, io.RawIOBase],
    age: float,
    preload: bool,
) -> Response:
    """A response from a stored one, from its facts (``StoredResponse.facts``, parsed once
    when it was decoded or written): the same ``Response`` that
    ``HTTPAdapter.build_response`` makes of the same urllib3 response, built directly.
    (build_response's cookie step does nothing for a response that did not come off a
    connection; the session's own cookie step runs as for any response.)"""
    preloaded = preload and isinstance(body, bytes) and _PRELOAD
    age_value = policy.age_header(age)  # RFC 9111 §5.1
    facts = stored.facts
    raw = _raw_response(request, stored.status, stored.reason, facts.lines_without_age, age_value, body, preloaded)
    resp = Response()
    resp.status_code = stored.status
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    store = headers._store  # type: ignore[attr-defined]  # checked: _cid_store_usable
    store.update(facts.combined)
    store["age"] = ("Age", age_value)
    resp.headers = headers
    resp.encoding = None if facts.content_type is None else _encoding_of(facts.content_type)
    resp.raw = raw
    resp.reason = stored.reason
    resp.url = request.url.decode("utf-8") if isinstance(request.url, bytes) else str(request.url)
    resp.request = request
    resp.connection = connection
    return _mark(_preloaded(resp, body) if preloaded else resp, True)


def _raw_response(
    request: PreparedRequest,
    status: int,
    reason: str,
    lines: Iterable[tuple[str, str]],
    age_value: Optional[str],
    body: Union[bytes, io.RawIOBase],
    preloaded: bool,
) -> HTTPResponse:
    """The urllib3 response behind a response from the cache: ``lines`` (without Age), then
    ``Age: age_value`` if given; over no body if it is handed over ``preloaded``."""
    header_dict = HTTPHeaderDict()
    for name, value in lines:
        header_dict.add(name, value)
    if age_value is not None:
        header_dict.add("Age", age_value)
    return HTTPResponse(
        body=io.BytesIO(b"" if preloaded else body) if isinstance(body, bytes) else body,
        headers=header_dict,
        status=status,
        version=11,
        reason=reason,
        preload_content=False,
        decode_content=False,
        request_method=request.method,
        request_url=request.url,
    )


def _preloaded(resp: Response, body: Union[bytes, io.RawIOBase]) -> Response:
    """``resp`` with ``body`` handed over as already read, as ``requests`` leaves a response
    whose content it has read."""
    if isinstance(body, bytes) and _PRELOAD:
        resp._content = body
        resp._content_consumed = True  # type: ignore[attr-defined]
    return resp


def install_tee(
    raw: Any,
    expected_length: Optional[int],
    sink: Sink,
    on_finish: Optional[Callable[[], None]] = None,
) -> bool:
    """Tee ``raw`` (a urllib3 response) into ``sink``, then call ``on_finish`` (also when
    the body turns out incomplete); False, and nothing called, if it can't be teed."""
    fp = getattr(raw, "_fp", None) if _RAW_FP else None
    if fp is None or not hasattr(fp, "read"):
        return False
    raw._fp = TeeReader(fp, expected_length, sink, on_finish)
    return True
