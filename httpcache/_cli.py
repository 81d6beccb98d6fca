"""The command line: ``python -m httpcache`` (and the ``httpcache`` / ``doesitcache`` scripts).

``explain URL`` fetches a URL twice through a fresh in-memory cache and says whether
and why it is stored and reused (the policy's rule and its RFC 9111 section) and what
a revalidation would send; ``inspect``, ``stats`` and ``purge`` work on a store named
``sqlite:///path``, ``file:///dir`` or ``redis://host:port/db?prefix=...``; ``demo``
runs the demo. The only module that prints.

Freshness (``inspect``, ``stats``, ``purge --expired``) is judged by RFC 9111 and only the
options given here (``--expire-after``, ``--max-ttl``, ``--shared``): the store does not
record the options of the application that filled it. A cache filled with rules by URL
(``urls_expire_after``) is judged as its session does from Python:
``CacheInspector(session).delete(expired=True)``.

Exit codes: 0 done; 2 a usage error; 3 the store does not exist; 4 the store cannot
be read (not an httpcache store, no permission, Redis unreachable or not installed);
5 ``explain``: the request failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sqlite3
import sys
from collections.abc import Sequence
from typing import Optional, TextIO
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

import requests

from . import policy
from ._demo import run_demo
from ._inspection import CachedResponse, CacheInspector, URLPattern
from ._logtext import seconds as seconds_text
from ._messages import _request_view, _response_view
from .cache import BaseCache, DictCache
from .caches import FileCache, RedisCache, SQLiteCache
from .exceptions import HTTPCacheError
from .models import CacheOptions
from .wrapper import CacheControl

__all__ = ["doesitcache", "main"]

OK, USAGE, NO_STORE, UNREADABLE, REQUEST_FAILED = 0, 2, 3, 4, 5
_FILE_LOCK = ".lock"  # every FileCache directory has one (FileCache creates it)


class _StoreError(Exception):
    """A store named on the command line cannot be used: ``code`` is the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def open_store(spec: str) -> BaseCache:
    """The store ``spec`` names, opened without creating anything (raises ``_StoreError``)."""
    if spec.startswith("sqlite://"):
        return _open_sqlite(spec[len("sqlite://") :])
    if spec.startswith("file://"):
        return _open_file(spec[len("file://") :])
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return _open_redis(spec)
    raise _StoreError(f"unknown store {spec!r}: use sqlite:///path, file:///dir or redis://host:port/db", USAGE)


def _open_sqlite(path: str) -> BaseCache:
    if not path:
        raise _StoreError("sqlite:// needs a path: sqlite:///path/to/cache.db", USAGE)
    if not os.path.isfile(path):
        raise _StoreError(f"no SQLite store at {path}", NO_STORE)
    try:  # read-only, so that a file that is not ours is left as it is
        conn = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'httpcache'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise _StoreError(f"{path} cannot be read as a SQLite database: {exc}", UNREADABLE) from exc
    if row is None:
        raise _StoreError(f"{path} is not an httpcache SQLiteCache database", UNREADABLE)
    return SQLiteCache(path)


def _open_file(path: str) -> BaseCache:
    if not path:
        raise _StoreError("file:// needs a directory: file:///path/to/cache-dir", USAGE)
    if not os.path.isdir(path):
        raise _StoreError(f"no FileCache directory at {path}", NO_STORE)
    if not os.path.exists(os.path.join(path, _FILE_LOCK)):
        raise _StoreError(f"{path} is not a FileCache directory (it has no {_FILE_LOCK})", UNREADABLE)
    if not os.access(path, os.R_OK | os.X_OK):
        raise _StoreError(f"{path} cannot be read", UNREADABLE)
    return FileCache(path)


def _open_redis(spec: str) -> BaseCache:
    parts = urlsplit(spec)
    where = parts.path if parts.scheme == "unix" else parts.hostname
    if not where:
        if parts.scheme == "unix":
            raise _StoreError("unix:// needs a socket path: unix:///path/to/redis.sock", USAGE)
        raise _StoreError(f"{parts.scheme}:// needs a host: {parts.scheme}://host:port/db", USAGE)
    query = parse_qs(parts.query, keep_blank_values=True)
    prefix = query.pop("prefix", ["httpcache:"])[-1]
    url = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    try:
        store = RedisCache(url, prefix, socket_timeout=5.0)
        store.client.ping()
    except HTTPCacheError as exc:
        raise _StoreError(str(exc), UNREADABLE) from exc
    except Exception as exc:  # any failure to reach it
        raise _StoreError(f"Redis at {spec} cannot be reached: {type(exc).__name__}: {exc}", UNREADABLE) from exc
    return store


def _state(item: CachedResponse) -> str:
    if item.stale:
        return f"stale {seconds_text(item.age - item.lifetime)}"
    return f"fresh {seconds_text(item.lifetime - item.age)}"


def _table(items: Sequence[CachedResponse], out: TextIO) -> None:
    rows = [("STATUS", "METHOD", "SIZE", "AGE", "STATE", "URL", "VARY")]
    for item in items:
        vary = ", ".join(f"{k}={v}" for k, v in item.vary.items())
        if item.credentials:
            vary = (vary + ", " if vary else "") + "(credentials)"
        rows.append(
            (str(item.status), item.method, str(item.size), seconds_text(item.age), _state(item), item.url, vary or "-")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n")


def _options(args: argparse.Namespace) -> CacheOptions:
    """The options freshness is judged with: RFC 9111 and the application's expiry settings
    stated on the command line (the store does not record them)."""
    try:
        return CacheOptions(shared=args.shared, expire_after=args.expire_after, max_ttl=args.max_ttl)
    except HTTPCacheError as exc:
        raise _StoreError(
            str(exc).replace("expire_after", "--expire-after").replace("max_ttl", "--max-ttl"), USAGE
        ) from exc


def _rule(options: CacheOptions) -> str:
    """The rule freshness was judged by, in words."""
    said = [f"RFC 9111 as a {'shared' if options.shared else 'private'} cache"]
    if options.expire_after is not None:
        said.append(f"--expire-after {options._expire_after:g} s for responses without explicit freshness")
    if options.max_ttl is not None:
        said.append(f"--max-ttl {options._max_ttl:g} s")
    return (
        f"judged stale by {', '.join(said)}; the application's other expiry settings (urls_expire_after) "
        "are not known here: purge such a cache from Python, CacheInspector(session).delete(expired=True)"
    )


def _inspector(args: argparse.Namespace) -> CacheInspector:
    options = _options(args)  # (first: a usage error before the store is opened)
    return CacheInspector(open_store(args.store), options=options)


def _inspect(args: argparse.Namespace, out: TextIO) -> int:
    inspector = _inspector(args)
    items = list(inspector.responses(_pattern(args), expired=True if args.expired else None))
    if args.json:
        json.dump([item.as_dict() for item in items], out, indent=2)
        out.write("\n")
    else:
        _table(items, out)
        out.write(f"{len(items)} responses, {sum(item.size for item in items)} bytes\n")
    return OK


def _stats(args: argparse.Namespace, out: TextIO) -> int:
    stats = _inspector(args).stats()
    if args.json:
        json.dump({"count": stats.count, "size": stats.size, "fresh": stats.fresh, "stale": stats.stale}, out)
        out.write("\n")
    else:
        out.write(f"{stats.count} responses, {stats.size} bytes: {stats.fresh} fresh, {stats.stale} stale\n")
    return OK


def _purge(args: argparse.Namespace, out: TextIO) -> int:
    if not (args.url or args.regex or args.expired or args.all):
        out.write("purge: say what to delete: --url PATTERN, --regex EXPR, --expired or --all\n")
        return USAGE
    inspector = _inspector(args)
    deleted = inspector.delete(None if args.all else _pattern(args), expired=True if args.expired else None)
    if args.expired:
        out.write(_rule(inspector.options) + "\n")
    out.write(f"deleted {deleted} responses\n")
    return OK


def _pattern(args: argparse.Namespace) -> URLPattern:
    """The URL filter of ``--regex`` or ``--url`` (a glob)."""
    if getattr(args, "regex", None):
        try:
            return re.compile(args.regex)
        except re.error as exc:
            raise _StoreError(f"--regex {args.regex!r}: {exc}", USAGE) from exc
    url: Optional[str] = getattr(args, "url", None)
    return url


def _headers(values: Sequence[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in values:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise _StoreError(f"--header needs 'Name: value', not {line!r}", USAGE)
        headers[name.strip()] = value.strip()
    return headers


def explain(url: str, headers: dict[str, str], out: TextIO) -> tuple[int, bool]:
    """Fetch ``url`` twice through a fresh cache and say what happened; (exit code, cached)."""
    session = CacheControl(requests.Session(), DictCache())
    inspector = CacheInspector(session)
    controller = inspector.controller
    try:
        first = session.get(url, headers=headers, timeout=30)
        first.close()
        out.write(f"GET {url}: {first.status_code} {first.reason}, {len(first.content)} bytes\n")
        why_not = policy.not_storable_reason(_request_view(first.request), _response_view(first), controller.options)
        items = list(inspector.responses())
        if not items:
            out.write(f"stored: no: {why_not or 'the store did not take it'}\n")
        else:
            item = items[0]
            out.write(f"stored: yes ({_lifetime_rule(item)})\n")
            conditional = policy.conditional_headers(item._stored) if item._stored is not None else ()
            sent = ", ".join(f"{n}: {v}" for n, v in conditional)
            out.write(f"a revalidation would send: {sent or 'nothing to validate with: a full request'}\n")
        lookup = controller.lookup(_request_view(first.request))
        lookup.release()
        second = session.get(url, headers=headers, timeout=30)
        second.close()
    except requests.RequestException as exc:
        out.write(f"the request failed: {type(exc).__name__}: {exc}\n")
        return REQUEST_FAILED, False
    finally:
        session.close()
    decision = lookup.decision
    from_cache = bool(getattr(second, "from_cache", False))
    if isinstance(decision, policy.Fresh):
        verdict = f"served from the cache: fresh (RFC 9111 §4.2), age {seconds_text(decision.age)}"
    elif isinstance(decision, (policy.StaleAllowed, policy.StaleWhileRevalidate)):
        verdict = "served stale from the cache (RFC 9111 §4.2.4; RFC 5861)"
    elif isinstance(decision, policy.Validate) and decision.headers:
        if from_cache:
            result = "the origin answered 304: the stored response was reused (RFC 9111 §4.3.4)"
        else:
            result = f"the origin answered {second.status_code}: a new response"
        sent = ", ".join(n for n, _ in decision.headers)
        verdict = f"not reused as it was: {decision.reason}; revalidated with {sent}: {result}"
    else:
        verdict = f"sent to the origin again: {getattr(decision, 'reason', 'nothing usable stored')}"
    out.write(f"second request: {verdict}\n")
    return OK, from_cache


def _lifetime_rule(item: CachedResponse) -> str:
    headers = {n.lower(): v for n, v in item.headers}
    if "max-age" in headers.get("cache-control", "") or "s-maxage" in headers.get("cache-control", ""):
        rule = "Cache-Control max-age, RFC 9111 §4.2.1"
    elif "expires" in headers:
        rule = "Expires, RFC 9111 §4.2.1"
    elif item.lifetime > 0:
        rule = "heuristic: 10% of the time since Last-Modified, RFC 9111 §4.2.2"
    else:
        rule = "no freshness: reused only after revalidation, RFC 9111 §4.3"
    return f"freshness lifetime {seconds_text(item.lifetime)}: {rule}"


def _explain(args: argparse.Namespace, out: TextIO) -> int:
    if args.verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("httpcache: %(message)s"))
        logger = logging.getLogger("httpcache")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    code, _ = explain(args.url, _headers(args.header), out)
    return code


_FRESHNESS_HELP = (
    "Freshness (fresh/stale, --expired) is judged by RFC 9111 plus only the options given here "
    "(--expire-after, --max-ttl, --shared): state the application's expiry settings, or a response it "
    "considers fresh shows as stale (and purge --expired deletes it). A cache filled with urls_expire_after "
    "rules must be purged from Python: CacheInspector(session).delete(expired=True), which uses the "
    "session's own options."
)


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of seconds, not {text!r}") from None


def _freshness_options(cmd: argparse.ArgumentParser) -> None:
    """The application's expiry settings, for judging freshness as it does."""
    cmd.add_argument(
        "--expire-after",
        type=_seconds,
        metavar="SECONDS",
        help="the application's expire_after: freshness of a response without explicit freshness",
    )
    cmd.add_argument(
        "--max-ttl", type=_seconds, metavar="SECONDS", help="the application's max_ttl: at most this much freshness"
    )
    cmd.add_argument(
        "--shared", action="store_true", help="the application's cache is shared (s-maxage applies, RFC 9111 §5.2.2.10)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m httpcache", description="Look into an httpcache store, or at how a URL caches."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="start a local origin and show miss, hit, revalidation and invalidation")
    ex = sub.add_parser("explain", help="fetch URL twice through a fresh cache: is it stored, reused, and why")
    ex.add_argument("url")
    ex.add_argument("--header", "-H", action="append", default=[], help="a request field, 'Name: value'")
    ex.add_argument("--verbose", "-v", action="store_true", help="also print httpcache's log (to stderr)")
    store_help = "sqlite:///path, file:///dir or redis://host:port/db?prefix=..."
    for name, text in (("inspect", "list the stored responses"), ("stats", "count, size, fresh and stale")):
        cmd = sub.add_parser(name, help=text + " (changes nothing)", description=_FRESHNESS_HELP)
        cmd.add_argument("store", help=store_help)
        _freshness_options(cmd)
        cmd.add_argument("--json", action="store_true", help="print JSON")
        if name == "inspect":
            cmd.add_argument("--url", help="only URLs matching this glob ('https://api.example/*')")
            cmd.add_argument("--regex", help="only URLs matching this regular expression")
            cmd.add_argument("--expired", action="store_true", help="only stale responses")
    purge = sub.add_parser("purge", help="delete stored responses", description=_FRESHNESS_HELP)
    purge.add_argument("store", help=store_help)
    _freshness_options(purge)
    purge.add_argument("--url", help="responses whose URL matches this glob (every variant)")
    purge.add_argument("--regex", help="responses whose URL matches this regular expression")
    purge.add_argument("--expired", action="store_true", help="stale responses (past their freshness lifetime)")
    purge.add_argument("--all", action="store_true", help="every response")
    return parser


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None) -> int:
    """``python -m httpcache``: run a subcommand, return its exit code."""
    out = sys.stdout if out is None else out
    args = _parser().parse_args(argv)
    commands = {"explain": _explain, "inspect": _inspect, "stats": _stats, "purge": _purge}
    if args.command == "demo":
        return run_demo(out)
    try:
        return commands[args.command](args, out)
    except _StoreError as exc:
        sys.stderr.write(f"httpcache: {exc}\n")
        return exc.code
    except Exception as exc:  # noqa: BLE001 - a store failing while it is read: say so
        sys.stderr.write(f"httpcache: the store cannot be read: {type(exc).__name__}: {exc}\n")
        return UNREADABLE


def doesitcache(argv: Optional[Sequence[str]] = None) -> int:
    """``doesitcache URL``: cachecontrol's command, answering with ``explain``'s reasons."""
    parser = argparse.ArgumentParser(prog="doesitcache", description="Does this URL cache? Fetch it twice and say.")
    parser.add_argument("url")
    parser.add_argument("--header", "-H", action="append", default=[], help="a request field, 'Name: value'")
    args = parser.parse_args(argv)
    try:
        code, cached = explain(args.url, _headers(args.header), sys.stdout)
    except _StoreError as exc:
        sys.stderr.write(f"doesitcache: {exc}\n")
        return exc.code
    if code == OK:
        sys.stdout.write("Cached!\n" if cached else "Not cached :(\n")
    return code
