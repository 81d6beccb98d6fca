"""The runner's side of ``httpcache-redis``: is Redis there, and removing this run's keys.

Each run gets its own key prefix (``httpcache-bench:<host>:<pid>:<time>:``); only keys
under it are ever deleted (``SCAN`` + ``DEL``), before the workers start and after they
stop. Never ``FLUSHDB``: other users (the test suite) share the server. Needs the
``redis`` package in the runner's interpreter (the one httpcache's workers run in).
"""

from __future__ import annotations

import importlib
import os
import socket
import time
from typing import Any

DEFAULT_URL = "redis://127.0.0.1:6379/0"
TIMEOUT = 2.0


def run_prefix() -> str:
    return f"httpcache-bench:{socket.gethostname()}:{os.getpid()}:{int(time.time())}:"


def pattern(prefix: str) -> str:
    """A ``SCAN MATCH`` pattern for every key under ``prefix``."""
    return "".join("\\" + c if c in "\\*?[]" else c for c in prefix) + "*"


def _client(url: str) -> Any:
    redis: Any = importlib.import_module("redis")
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)


def unavailable(url: str) -> str:
    """Why Redis at ``url`` can not be used ("" when it answers PING)."""
    try:
        client = _client(url)
    except ImportError:
        return "the redis package is not installed (pip install -e '.[redis]')"
    except Exception as exc:  # noqa: BLE001 - a bad URL, say: reported as the reason
        return f"{url}: {type(exc).__name__}: {exc}"
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - not reachable: the client is skipped, not an error
        return f"Redis at {url} is not reachable ({type(exc).__name__}: {exc})"
    finally:
        client.close()
    return ""


def clean(url: str, prefix: str) -> int:
    """Delete every key under ``prefix``; how many there were."""
    if not prefix.startswith("httpcache-bench:"):
        raise ValueError(f"refusing to delete keys under {prefix!r}")
    client = _client(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern(prefix), count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += int(client.delete(*batch))
                batch = []
        if batch:
            deleted += int(client.delete(*batch))
    finally:
        client.close()
    return deleted
