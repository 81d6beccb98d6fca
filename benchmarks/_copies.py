"""Bulk entries for the largest store sizes: copies of a real entry under other URLs' keys, written
through the store's own API (worker side: stdlib + the client's package, imported by name).

Filling 100k entries through each client's ``session.send`` (``_fill.py``) takes many minutes
for the slower peers, so past 10k entries (run.py's ``scale_real_max``) the store-size cases write
*copies*:

1. Two template URLs are fetched for real (on the memory transport of ``_fill.py``) while
   the store's write method is recorded (httpcache, cachecontrol: ``set`` and httpcache's
   ``open_write`` → ``commit``; requests-cache: ``save_response``; hishel: ``create_entry``).
2. The key for another URL is the client's own key for it: the first template's recorded
   key with its URL replaced by the other URL (httpcache, cachecontrol: their keys are the
   normalised URL), ``session.cache.create_key(request)`` (requests-cache) or
   ``sha256("RFC " + url)`` (hishel 2.0's adapter in RFC mode). The rule must give exactly the
   second template's recorded keys, or the client is not copied (it is filled for real).
3. Each copy is the first template's recorded value made out for the other URL, a new object
   for each copy: where the client's value holds the URL, it holds the copy's URL, written
   by the client's own code (httpcache: ``serialize.load_response`` → ``dump_response`` with
   the URL replaced; requests-cache: a deep copy of the recorded ``CachedResponse``, body
   included, with the URL replaced in it and in its request; hishel: the recorded request with
   the URL); cachecontrol's value does not hold the URL (checked) and is copied byte for byte.
   It is written with the same call the client made: ``store.set(key, value, expires)``,
   ``cache.responses[key] = response`` (in ``bulk_commit()`` where the backend has it: one
   transaction instead of one per entry), ``storage.create_entry(...)`` with its body read.

So a copy is a fresh hit for its own URL, as a real entry is (httpcache and hishel check the
stored URL against the request's: the template's would be a miss). ``_scale.py`` checks a
sample of the copies that way after each batch. A copy keeps the template's ``Date`` and
times (it is as fresh as the template, stored seconds earlier).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import importlib
from typing import Any, Callable, Optional

Write = tuple[str, Any, Any]  # key, value, expires


class CopyError(Exception):
    """This client's writes could not be recorded or its keys not derived: fill it for real."""


class _Recorder:
    """Records the writes a client makes to its store while one URL is fetched."""

    def __init__(self, client: str, built: Any) -> None:
        self.client = client
        self.built = built
        self.writes: list[Write] = []
        self._undo: list[Callable[[], None]] = []

    def _patch(self, obj: Any, name: str, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        """Shadow ``obj.name`` with an instance attribute until exit (the class's method shows again)."""
        if name in getattr(obj, "__dict__", {}):
            raise CopyError(f"{type(obj).__name__}.{name} is already an instance attribute")
        try:
            setattr(obj, name, wrapper(getattr(obj, name)))
        except (AttributeError, TypeError) as exc:
            raise CopyError(f"can not record {type(obj).__name__}.{name}: {exc}") from exc
        self._undo.append(lambda: delattr(obj, name))

    def __enter__(self) -> _Recorder:
        writes = self.writes
        family = self.client.split("-", 1)[0]
        if family in ("httpcache", "cachecontrol"):
            store = self.built.store

            def on_set(original: Callable[..., Any]) -> Callable[..., Any]:
                def set_(key: str, value: bytes, expires: Any = None) -> Any:
                    writes.append((key, value, expires))
                    return original(key, value, expires)

                return set_

            self._patch(store, "set", on_set)
            if hasattr(store, "open_write"):
                self._patch(store, "open_write", lambda original: lambda: _RecordingWriter(original(), writes))
        elif family == "requests":
            cache = self.built.session.cache

            def on_save(original: Callable[..., Any]) -> Callable[..., Any]:
                def save(response: Any, cache_key: Optional[str] = None, expires: Any = None) -> Any:
                    result = original(response, cache_key, expires)
                    key = cache_key or cache.create_key(response.request)
                    writes.append((key, cache.responses[key], expires))
                    return result

                return save

            self._patch(cache, "save_response", on_save)
        elif family == "hishel":

            def on_create(original: Callable[..., Any]) -> Callable[..., Any]:
                def create(request: Any, response: Any, key: str, **kw: Any) -> Any:
                    writes.append((key, (request, response), kw))
                    return original(request, response, key, **kw)

                return create

            self._patch(self.built.store, "create_entry", on_create)
        else:
            raise CopyError(f"no copies for {self.client}")
        return self

    def __exit__(self, *exc: object) -> None:
        for undo in reversed(self._undo):
            undo()


class _RecordingWriter:
    """httpcache's streaming writer, recording what it commits."""

    def __init__(self, writer: Any, writes: list[Write]) -> None:
        self._writer = writer
        self._writes = writes
        self._data: list[bytes] = []

    def write(self, data: bytes) -> Any:
        self._data.append(bytes(data))
        return self._writer.write(data)

    def commit(self, key: str, expires: Any = None) -> Any:
        self._writes.append((key, b"".join(self._data), expires))
        return self._writer.commit(key, expires)

    def abort(self) -> Any:
        return self._writer.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


class Copier:
    """Writes copies of a recorded real entry under the keys the client uses for other URLs."""

    def __init__(self, client: str, built: Any, fetch: Callable[[str], None], first: str, second: str) -> None:
        self.client = client
        self.built = built
        self.family = client.split("-", 1)[0]
        self.first = first
        recorded = []
        for url in (first, second):
            with _Recorder(client, built) as recorder:
                fetch(url)
            if not recorder.writes:
                raise CopyError(f"{client}: fetching {url} wrote nothing that could be recorded")
            recorded.append(recorder.writes)
        self.template = recorded[0]
        derived = sorted(key for key, _, _ in self.writes_for(second))
        if derived != sorted(key for key, _, _ in recorded[1]):
            raise CopyError(f"{client}: the key rule gives {derived}, the client wrote {recorded[1]!r:.300}")
        self._serialize: Any = None
        if self.family == "httpcache":
            self._serialize = importlib.import_module("httpcache.serialize")
        for _, value, _ in self.template:
            if self.family == "cachecontrol" and first.encode() in value:
                raise CopyError(f"{client}: its value holds the URL: no rule to copy it")
            self.value_for(value, second)  # the rule applies (raises otherwise)

    def key_for(self, key: str, url: str) -> str:
        if self.family in ("httpcache", "cachecontrol"):
            if self.first not in key:
                raise CopyError(f"{self.client}: the key {key!r} does not hold the URL")
            return key.replace(self.first, url)
        if self.family == "requests":
            requests: Any = __import__("requests")
            session = self.built.session
            derived: str = session.cache.create_key(session.prepare_request(requests.Request("GET", url)))
            return derived
        return hashlib.sha256(f"RFC {url}".encode()).hexdigest()  # hishel 2.0, RFC mode

    def value_for(self, value: Any, url: str) -> Any:
        """The recorded value as the client would have written it for ``url`` (a new object)."""
        if self.family == "cachecontrol":
            return bytes(bytearray(value))
        if self.family == "httpcache":
            entry = self._serialize.load_response(value)
            if entry is None or not isinstance(entry.body, bytes):
                raise CopyError(f"{self.client}: a recorded value does not decode")
            return self._serialize.dump_response(dataclasses.replace(entry.head, url=url), entry.body)
        if self.family == "requests":  # a deep copy: nothing shared with the template, as a real entry
            response = copy.deepcopy(value)
            response.url = response.request.url = url
            response._content = bytes(bytearray(value.content))  # deepcopy keeps bytes shared
            return response
        request, response = value
        return dataclasses.replace(request, url=url), response

    def writes_for(self, url: str) -> list[Write]:
        return [(self.key_for(key, url), value, expires) for key, value, expires in self.template]

    def copy(self, urls: list[str], body: bytes) -> None:
        """Write one copy of the template under each URL's key(s), made out for that URL."""
        store = self.built.store
        if self.family in ("httpcache", "cachecontrol"):
            for url in urls:
                for key, value, expires in self.writes_for(url):
                    store.set(key, self.value_for(value, url), expires)
        elif self.family == "requests":
            responses = self.built.session.cache.responses
            bulk = getattr(responses, "bulk_commit", None)
            for start in range(0, len(urls), 1000):
                with bulk() if bulk is not None else contextlib.nullcontext():
                    for url in urls[start : start + 1000]:
                        for key, value, _ in self.writes_for(url):
                            responses[key] = self.value_for(value, url)
        else:
            for url in urls:
                for key, value, kw in self.writes_for(url):
                    request, response = self.value_for(value, url)
                    entry = store.create_entry(request, dataclasses.replace(response, stream=iter([body])), key, **kw)
                    for _ in entry.response.stream or ():  # the body is saved as it is read
                        pass
