"""Small helpers shared by the end-to-end test modules (test_e2e_*.py)."""

from __future__ import annotations

import email.utils
import time
from typing import Callable, Optional

import requests
from origin import Handler, Reply, Seen

from httpcache.cache import BaseCache

DAY = 86400.0


def http_date(offset: float = 0.0) -> str:
    """An IMF-fixdate ``offset`` seconds from now (negative: in the past)."""
    return email.utils.formatdate(time.time() + offset, usegmt=True)


def from_cache(resp: requests.Response) -> bool:
    """``resp.from_cache``, asserting that it is set and is a bool."""
    value = vars(resp).get("from_cache")
    assert isinstance(value, bool), f"from_cache is {value!r}, not a bool"
    return value


def validating(
    body: bytes,
    headers: list[tuple[str, str]],
    *,
    etag: Optional[str] = None,
    last_modified: Optional[str] = None,
    not_modified_headers: Optional[list[tuple[str, str]]] = None,
) -> Handler:
    """A handler serving ``body`` with a validator, answering a matching
    conditional request with 304 (RFC 9110 §13.1.1/§13.1.3)."""
    validator: list[tuple[str, str]] = []
    if etag is not None:
        validator.append(("ETag", etag))
    if last_modified is not None:
        validator.append(("Last-Modified", last_modified))

    def handler(seen: Seen) -> Reply:
        inm = seen.headers.get("if-none-match")
        ims = seen.headers.get("if-modified-since")
        if (etag is not None and inm == etag) or (etag is None and last_modified is not None and ims == last_modified):
            return Reply(304, validator + list(not_modified_headers or []))
        return Reply(200, headers + validator, body)

    return handler


class RecordingDictCache(BaseCache):
    """A store whose ``set`` takes an expiry hint, and records the hints it got."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.hints: list[Optional[float]] = []

    def get(self, key: str) -> Optional[bytes]:
        return self.data.get(key)

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        self.hints.append(expires)
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


class DeadStore(BaseCache):
    """A store whose backend is down: every operation raises."""

    def __init__(self) -> None:
        self.calls = 0

    def get(self, key: str) -> Optional[bytes]:
        self.calls += 1
        raise OSError("backend down")

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        self.calls += 1
        raise OSError("backend down")

    def delete(self, key: str) -> None:
        self.calls += 1
        raise OSError("backend down")


class FlakyStore(BaseCache):
    """An in-memory store whose operations can be made to fail one by one."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.fail_get = False
        self.fail_set = False
        self.fail_delete = False
        self.failures = 0

    def _maybe_fail(self, flag: bool) -> None:
        if flag:
            self.failures += 1
            raise OSError("backend down")

    def get(self, key: str) -> Optional[bytes]:
        self._maybe_fail(self.fail_get)
        return self.data.get(key)

    def set(self, key: str, value: bytes, expires: Optional[float] = None) -> None:
        self._maybe_fail(self.fail_set)
        self.data[key] = value

    def delete(self, key: str) -> None:
        self._maybe_fail(self.fail_delete)
        self.data.pop(key, None)


class ReadmeDictCache(BaseCache):  # the README's ten-line custom store, verbatim (set takes two args)
    def __init__(self, init_dict=None):  # type: ignore[no-untyped-def]
        self.data = init_dict or {}

    def get(self, key):  # type: ignore[no-untyped-def]
        return self.data.get(key, None)

    def set(self, key, value):  # type: ignore[no-untyped-def, override]
        self.data.update({key: value})

    def delete(self, key):  # type: ignore[no-untyped-def]
        self.data.pop(key)


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` have passed; its last answer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
