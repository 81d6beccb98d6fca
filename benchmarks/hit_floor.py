"""Where a 1 KB fresh hit's time goes, next to the floors it cannot go below.

    python benchmarks/hit_floor.py            # about 10 s
    python benchmarks/hit_floor.py --rounds 5 # quicker, noisier

run.py measures a hit against F1 (requests' own per-call cost: an adapter that returns
one prebuilt ``Response`` every time). A cache cannot hand every caller the same
``Response`` object: each hit needs a new one, with its own ``urllib3`` response behind
``raw``. This script measures, side by side in one process and interleaved round by
round (medians over rounds of the best of 3 repeats):

* **F1**: as in run.py;
* **F1b**: an adapter that builds a new ``Response`` per call, the way every
  ``requests`` transport does (a urllib3 ``HTTPResponse`` over the body in memory, then
  ``HTTPAdapter.build_response``), with the body already read: the least a cache that
  returns a new response per call can cost;
* **httpcache**: ``CacheControl(Session())`` (DictCache), a 1 KB fresh hit, ``.content`` read;

then times httpcache's own steps on the same hit in isolation, compares one thread
with eight sharing the session (F1 and httpcache: does the cache add contention of its
own?), and prints a cProfile of the hit (``--top``). Prints Markdown; nothing passes
or fails.
"""

from __future__ import annotations

import cProfile
import gc
import io
import statistics
import sys
import timeit
from typing import Any, Callable, Optional

import requests
from _cli import logs_in, parse, parser, setup, utc_now
from _procs import REPO, RESULTS, machine, origin
from _report import table
from _sessions import PrebuiltAdapter, build, plain
from _timing import profile_text, released_together, rotated
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest, Response
from urllib3 import HTTPResponse
from urllib3._collections import HTTPHeaderDict

sys.path.insert(0, str(REPO))  # httpcache from this source tree
CALLS = 300  # per repeat


class FreshResponseAdapter(HTTPAdapter):
    """F1b: a new Response per call, built as a transport builds one, body already read."""

    def __init__(self, template: Response) -> None:
        super().__init__()
        self._lines = list(template.raw.headers.items())
        self._body = template.content

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:  # type: ignore[override]
        headers = HTTPHeaderDict()
        for name, value in self._lines:
            headers.add(name, value)
        raw = HTTPResponse(
            body=io.BytesIO(b""),
            headers=headers,
            status=200,
            version=11,
            reason="OK",
            preload_content=False,
            decode_content=False,
            request_method=request.method,
            request_url=request.url,
        )
        resp = self.build_response(request, raw)
        resp._content = self._body
        resp._content_consumed = True  # type: ignore[attr-defined]
        return resp


def best_of(call: Callable[[], object], repeat: int = 3) -> float:
    """µs per call: the best of ``repeat`` timings of CALLS calls (gc collected first)."""
    gc.collect()
    return min(timeit.repeat(call, number=CALLS, repeat=repeat)) / CALLS * 1e6


def steps(cached: requests.Session, url: str) -> dict[str, float]:
    """httpcache's own steps on the hit, each timed alone (private names: this is our benchmark)."""
    from httpcache import _messages
    from httpcache.adapter import _Sending, wait_bound
    from httpcache.engine import Call

    adapter: Any = cached.get_adapter(url)
    request = cached.prepare_request(requests.Request("GET", url))
    view = _messages._request_view(request)
    kwargs: dict[str, Any] = {"stream": False, "timeout": None, "verify": True, "cert": None, "proxies": {}}
    call = Call(_Sending(request, kwargs), view, False, wait_bound(None))
    with adapter.controller.lookup(view) as lookup:
        entry, age = lookup.entry, lookup.decision.age

    def lookup_once() -> None:
        with adapter.controller.lookup(view):
            pass

    return {
        "adapter.send, all of it": best_of(lambda: adapter.send(request, **kwargs)),
        "request view": best_of(lambda: _messages._request_view(request)),
        "lookup: key, store get, decode, Vary, freshness (RFC 9111 §4)": best_of(lookup_once),
        "building the Response and its urllib3 response": best_of(lambda: adapter.engine._serve(call, entry, age)),
    }


def per_second(s: requests.Session, urls: list[str], threads: int, calls: int = 2400) -> float:
    """Hits per second by ``threads`` threads sharing ``s``, cycling over ``urls``."""

    def work(offset: int) -> None:
        for i in range(calls // threads):
            s.get(urls[(i + offset * 7) % len(urls)]).content  # noqa: B018

    return calls // threads * threads / (released_together(work, threads) / 1e9)


def main(argv: Optional[list[str]] = None) -> int:
    cli = parser(__doc__)
    cli.add_argument("--rounds", type=int, default=15)
    cli.add_argument("--top", type=int, default=20, help="cProfile rows")
    args = parse(cli, argv)
    setup(args.verbose)
    with origin(logs_in(RESULTS) / "hit_floor-origin.log") as server:
        url = f"{server.url}/fresh/1k/0"
        template = plain().get(url)
        clients = {
            "F1": plain(PrebuiltAdapter()),
            "F1b": plain(FreshResponseAdapter(template)),
            "httpcache": build("httpcache", "").session,
        }
        for s in clients.values():
            for _ in range(200):
                assert len(s.get(url).content) == 1024
        samples: dict[str, list[float]] = {name: [] for name in clients}
        for r in range(args.rounds):
            for name in rotated(list(clients), r):  # rotated each round
                s = clients[name]
                samples[name].append(best_of(lambda: s.get(url).content))  # noqa: B023 - used at once
        med = {name: statistics.median(values) for name, values in samples.items()}
        hot = [f"{server.url}/fresh/1k/{i}" for i in range(100)]
        rates: dict[tuple[str, int], list[float]] = {}
        for _round in range(max(3, args.rounds // 3)):
            for name in ("F1", "httpcache"):
                for threads in (1, 8):
                    rates.setdefault((name, threads), []).append(per_second(clients[name], hot, threads))
        own = steps(clients["httpcache"], url)
        profiler = cProfile.Profile()
        hit = clients["httpcache"]
        profiler.enable()
        for _ in range(2000):
            hit.get(url).content  # noqa: B018
        profiler.disable()
    info = machine()
    print(f"# 1 KB fresh hit against its floors, {utc_now()}\n")
    print(f"Machine: {', '.join(f'{k} {v}' for k, v in info.items())}; {args.rounds} rounds.\n")
    floors = [
        [n, f"{v:.1f}", f"{v / med['F1']:.2f}x", f"{v / med['F1b']:.2f}x", f"{v - med['F1b']:+.1f} µs"]
        for n, v in med.items()
    ]
    print(table(["client", "µs per call", "x F1", "x F1b", "over F1b"], floors))
    print("\nOne thread against eight sharing the session (100 hot URLs; hits per second, best round):\n")
    best = {name: (max(rates[(name, 1)]), max(rates[(name, 8)])) for name in ("F1", "httpcache")}
    threaded = [[name, f"{one:,.0f}", f"{eight:,.0f}", f"{eight / one:.3f}x"] for name, (one, eight) in best.items()]
    print(table(["client", "1 thread", "8 threads", "8 against 1"], threaded))
    print("\nhttpcache's steps, each timed alone (µs per call; the cache's part of the hit):\n")
    print(table(["step", "µs"], [[step, f"{value:.1f}"] for step, value in own.items()]))
    print(f"\ncProfile of 2000 httpcache hits, top {args.top} by own time:\n\n```")
    print(profile_text(profiler, args.top, "tottime").strip())
    print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
