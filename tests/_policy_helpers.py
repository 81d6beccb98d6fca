"""Shared fixtures of the pure-policy test modules: a fixed clock and URL, both modes."""

from __future__ import annotations

from email.utils import formatdate
from typing import Sequence

from httpcache.models import CacheOptions

NOW = 1_700_000_000.0
URL = "http://example.com/r"
PRIVATE = CacheOptions()
SHARED = CacheOptions(shared=True)

Items = Sequence[tuple[str, str]]


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)
