from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))

from origin import Origin

from httpcache import CacheControl, DictCache

pytest.register_assert_rewrite("stores_contract", "_e2e_helpers")  # shared asserts explain their failures too


@pytest.fixture
def origin() -> Iterator[Origin]:
    """A real HTTP origin on 127.0.0.1 that counts the requests it receives."""
    with Origin() as server:
        yield server


@pytest.fixture
def plain() -> Iterator[requests.Session]:
    """An uncached session (environment proxies ignored: tests talk to 127.0.0.1)."""
    sess = requests.Session()
    sess.trust_env = False
    yield sess
    sess.close()


@pytest.fixture
def cache() -> DictCache:
    return DictCache()


@pytest.fixture
def session(cache: DictCache) -> Iterator[requests.Session]:
    """A private-mode cached session (environment proxies ignored: tests talk to 127.0.0.1)."""
    sess = requests.Session()
    sess.trust_env = False
    yield CacheControl(sess, cache=cache)
    sess.close()


@pytest.fixture
def shared_session(cache: DictCache) -> Iterator[requests.Session]:
    sess = requests.Session()
    sess.trust_env = False
    yield CacheControl(sess, cache=cache, shared=True)
    sess.close()
