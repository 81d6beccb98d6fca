"""The engine: RFC 9111's flows, run against a small transport interface.

The imperative shell around the policy (DESIGN.md "one engine, thin transports"). For
each request it routes (unsafe methods, preconditions, Range), looks the cache up, and
carries out what the policy decided: serve, revalidate, store, invalidate, coalesce
concurrent misses, refresh in the background (stale-while-revalidate), serve stale on
error. It owns the clock (through the controller), the logging and the flows; what a
rule *says* is the policy's (``policy.decide`` on the request side, the response-side
rules it applies to what comes back).

It imports neither ``requests`` nor ``urllib3``: everything it needs of a client
library goes through ``Transport`` (send a request, tee a body into the store, build a
response, drain or throw away one), which ``adapter.CacheControlAdapter`` implements for
``requests``. The flows are tested through a fake transport (tests/test_engine.py).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from typing import Optional

from . import _coalesce, _leases, _settings, policy
from ._answers import Answers
from ._body import PIECE, Entry
from ._headers import Headers
from ._transport import (
    BACKGROUND_TIMEOUT,
    Body,
    Call,
    Fields,
    Req,
    Resp,
    Transport,
    body_of,
    damaged,
    expected_length,
)
from .controller import CacheController, Held, Lookup
from .keys import cache_key
from .models import CacheOptions, RequestView, StoredResponse

log = logging.getLogger("httpcache")

#: Reasons for the outcomes the policy's decisions carry none for.
SWR = "stale-while-revalidate: served stale, revalidating in the background (RFC 5861 §3)"
PRECONDITIONS = "precondition fields are for the origin to evaluate (RFC 9110 §13.1)"
RANGE_HIT = "the range served from a stored response (RFC 9111 §3.4)"
NOT_CACHED_METHOD = "a method the cache does not answer (RFC 9111 §3); an unsafe one invalidates (§4.4)"

__all__ = ["BACKGROUND_TIMEOUT", "PIECE", "Body", "Call", "Engine", "Fields", "Transport", "expected_length"]


class Engine(Answers[Req, Resp]):
    """Runs every request through the cache (``handle``) against ``transport``: the
    request side here, the response side in ``_answers.Answers``."""

    def __init__(self, controller: CacheController, transport: Transport[Req, Resp]) -> None:
        self.controller = controller
        self.transport = transport

    # -- the driver -----------------------------------------------------------------

    def handle(self, call: Call[Req]) -> Resp:
        """One request, start to end (RFC 9111 §4), in its mode and with the options of the
        ``httpcache.settings`` block it is made in, if any."""
        block = _settings.current()
        if block is not None:
            options = _settings.options_of(block, self.controller.options)
            if options is not self.controller.options:
                return self._with_options(options)._handle(call, block)
        return self._handle(call, block)

    def _with_options(self, options: CacheOptions) -> Engine[Req, Resp]:
        """This engine, over the same store, with ``options`` (a ``settings`` block's)."""
        controller = copy.copy(self.controller)  # shares the store, memo, locks and pools
        controller.options = options
        engine = copy.copy(self)
        engine.controller = controller
        return engine

    def _handle(self, call: Call[Req], block: Optional[_settings.Settings]) -> Resp:
        options = self.controller.options
        if options._rewrites:
            try:
                view = policy.cache_view(call.view, options)
            except Exception as exc:  # noqa: BLE001 - a user's key_fn failing: not cached, sent
                self.controller.fallback(
                    logging.WARNING, "option key_fn failed (%s): %s went to the origin, uncached", exc, call.view.url
                )
                return self._bypassed(call, self._send(call), f"option key_fn failed: {type(exc).__name__}")
            call = call if view is call.view else dataclasses.replace(call, view=view)
        mode = options.mode if block is None or block.mode is None else block.mode
        if mode != "default":
            call = dataclasses.replace(call, mode=mode)
            if mode in ("disabled", "force-refresh"):
                return self._bypass(call)
        view = call.view
        if view.method not in policy.CACHEABLE_METHODS and not policy.cached_by_body(view):
            # modes only-if-cached and offline send nothing, an unsafe method neither
            if call.mode in _CACHE_ONLY:
                return self._gateway_timeout(call, f"mode {call.mode}: nothing is sent, an unsafe method neither")
            return self._unsafe(call)
        if view.method not in self.controller.options.cacheable_methods:
            log.debug("%s %s passes through: not in the cacheable_methods option", view.method, view.url)
            return self._bypassed(call, self._send(call), "not in the cacheable_methods option")
        if policy.has_preconditions(view):
            if self._cache_only(call):
                return self._gateway_timeout(
                    call, "only from the cache, with preconditions for the origin (RFC 9111 §5.2.1.7)"
                )
            log.debug("%s %s passes through: precondition fields (RFC 9110 §13.1)", view.method, view.url)
            return self._bypassed(call, self._send(call), PRECONDITIONS)
        if "range" in view.headers:
            return self._range(call)
        with self.controller.lookup(view, mode=call.mode) as lookup:
            return self._dispatch(call, lookup)

    def _bypass(self, call: Call[Req]) -> Resp:
        """Modes that do not look the cache up: ``disabled`` (the origin's response, not
        stored; an unsafe method still invalidates, RFC 9111 §4.4) and ``force-refresh``
        (the origin's response, stored as a miss's would be)."""
        view = call.view
        if view.method not in policy.CACHEABLE_METHODS:
            return self._unsafe(call)
        if call.mode == "disabled" or policy.has_preconditions(view) or "range" in view.headers:
            return self._bypassed(call, self._send(call), f"mode {call.mode}: the cache is not looked up")
        return self._fetch(dataclasses.replace(call, fwd="request"))  # force-refresh

    def _cache_only(self, call: Call[Req]) -> bool:
        """May the request be answered only from the cache (RFC 9111 §5.2.1.7, or its mode)?"""
        return policy.only_if_cached(call.view) or call.mode in _CACHE_ONLY

    def _dispatch(self, call: Call[Req], lookup: Lookup) -> Resp:
        decision, entry = lookup.decision, lookup.entry
        if isinstance(decision, policy.Miss):
            return self._fetch_coalesced(dataclasses.replace(call, fwd="vary-miss") if lookup.vary_miss else call)
        if isinstance(decision, policy.GatewayTimeout):
            return self._gateway_timeout(call, decision.reason)
        if entry is None:  # every other decision is about a stored response
            raise AssertionError(f"{decision} without a stored response")
        if isinstance(decision, policy.Fresh):
            return self._serve(call, entry, decision.age)
        if isinstance(decision, policy.StaleAllowed):
            return self._serve(call, entry, decision.age, "stale", decision.reason)
        if isinstance(decision, policy.StaleWhileRevalidate):
            if call.mode != "read-only":  # read-only: the cache is left as it is
                self._refresh_later(call, entry, decision)
            return self._serve(call, entry, decision.age, "stale", SWR)
        if isinstance(decision, policy.Validate):
            return self._validate(
                dataclasses.replace(call, fwd="request") if decision.requested else call, entry, decision
            )
        raise AssertionError(decision)

    # -- sending ----------------------------------------------------------------------

    def _send(self, call: Call[Req], fields: Fields = (), drop: tuple[str, ...] = (), background: bool = False) -> Resp:
        """Send to the origin; a surrogate announces itself (W3C Edge Architecture §2)."""
        token = self.controller.options.surrogate
        if token is not None:
            capability = f'{token}="Surrogate/1.0"'
            existing = call.view.headers.get("surrogate-capability")
            fields = (*fields, ("Surrogate-Capability", f"{existing}, {capability}" if existing else capability))
        return self.transport.send(call, fields, drop, background)

    def _unsafe(self, call: Call[Req]) -> Resp:
        """A method whose responses are not stored: forwarded; an unsafe one invalidates
        (RFC 9111 §4.4), and a POST answer for its own URL may be stored as a GET (RFC 9110 §9.3.3)."""
        view, ctl = call.view, self.controller
        request_time = ctl.clock()
        resp = self._send(call)
        rv = self.transport.view(resp)
        urls = policy.invalidation_urls(view, rv)
        if urls:
            ctl.invalidate(urls)
        as_get = policy.post_response_as_get(view, rv, ctl.options) if call.mode != "disabled" else None
        if as_get is not None and self._accepted(resp):
            self._tee_into_store(resp, as_get, rv, request_time, ctl.clock())
        return self._bypassed(dataclasses.replace(call, fwd="method"), resp, NOT_CACHED_METHOD, rv)

    def _fetch(self, call: Call[Req], coalesce_key: Optional[str] = None) -> Resp:
        request_time = self.controller.clock()
        resp = self._send(call)
        return self._received(call, resp, request_time, self.controller.clock(), coalesce_key=coalesce_key)

    # -- misses, coalesced ------------------------------------------------------------

    def _fetch_coalesced(self, call: Call[Req]) -> Resp:
        """A miss: one origin request per key at a time in this process (and, with a store
        that grants leases, across processes); concurrent misses wait for it to be stored
        and are served from the cache. The wait is bounded by ``coalesce_timeout`` and by
        the caller's own timeout, and ends at once when waiting cannot pay off (``_coalesce``)."""
        ctl, view = self.controller, call.view
        limit = ctl.options.coalesce_timeout
        if limit <= 0 or view.method != "GET" or policy.answered_for_itself(view):
            return self._fetch(call)
        key = cache_key(view.method, view.url)
        bound = limit if call.wait_bound is None else min(limit, call.wait_bound)
        role, flight = ctl.coalescer.join(key, limit)
        if role == _coalesce.PASS or flight is None:
            return self._fetch(call, coalesce_key=key)
        if role == _coalesce.FOLLOW:
            return self._follow(call, flight, bound)
        token: Optional[str] = None
        try:
            token, served = _leases.take_lease(
                ctl, key, limit, bound, lambda: self._served_from_cache(call, collapsed=True), view.url
            )
        except BaseException:
            ctl.coalescer.release(key, flight)
            raise
        if served is not None:
            ctl.coalescer.release(key, flight)
            return served
        lease = token

        def release() -> None:  # once stored, known not to be, or handed to a streaming caller
            nonlocal token
            held, token = token, None
            if held:
                ctl.unlease(key, held)
            ctl.coalescer.release(key, flight)

        request_time = ctl.clock()
        try:
            resp = self._send(call)
        except BaseException:
            release()
            raise
        flight.responded = True
        resp = self._received(call, resp, request_time, ctl.clock(), on_finish=release, coalesce_key=key, shared=lease)
        if call.stream:
            release()  # handed to a caller who streams it: nobody waits on how (or whether) it is read
        return resp

    def _follow(self, call: Call[Req], flight: _coalesce.Flight, bound: float) -> Resp:
        """Wait, at most ``bound`` seconds, for the leader's response to be stored, and be
        served it. A caller whose own timeout ran out before the leader even had a response
        gets the timeout it asked for, as its own request would have."""
        if flight.done.wait(bound):
            served = self._served_from_cache(call, collapsed=True)
            if served is not None:
                return served
        elif call.wait_bound is not None and call.wait_bound <= bound and not flight.responded:
            raise self.transport.timed_out(
                call,
                f"no response within the caller's timeout ({call.wait_bound:g} s) to a request for "
                f"{call.view.url} already on its way to the origin for a concurrent caller",
            )
        return self._fetch(call)

    def _served_from_cache(self, call: Call[Req], collapsed: bool = False) -> Optional[Resp]:
        """A response from the cache if it now holds one that may be used as is
        (``collapsed``: it is there because a concurrent request for it was waited for)."""
        with self.controller.lookup(call.view, mode=call.mode) as lookup:
            decision, entry = lookup.decision, lookup.entry
            if isinstance(decision, policy.Fresh) and entry is not None:
                return self._serve(call, entry, decision.age, collapsed=collapsed)
            if isinstance(decision, policy.StaleAllowed) and entry is not None:
                return self._serve(call, entry, decision.age, "stale", decision.reason, collapsed)
            return None

    # -- Range (RFC 9111 §3.3, §3.4) ----------------------------------------------------

    def _range(self, call: Call[Req]) -> Resp:
        """A Range request is served from a stored complete response or a stored 206 when
        they hold the range and may be used (§3.4); else it goes to the origin, and a 200 or
        single-range 206 answer is stored (§3.3)."""
        spec = policy.requested_range(call.view)
        if spec is not None:
            for partial in (False, True):
                with self.controller.lookup(call.view, partial=partial, mode=call.mode) as lookup:
                    entry = lookup.entry
                    if isinstance(lookup.decision, (policy.Fresh, policy.StaleAllowed)) and entry is not None:
                        served = policy.range_from_stored(spec, entry.head)
                        if served is not None and not damaged(entry):  # damaged: fetched instead
                            return self._partial(call, entry, served, lookup.decision.age)
        if self._cache_only(call):
            return self._gateway_timeout(
                call, "only from the cache, and no stored response holds the range (RFC 9111 §5.2.1.7)"
            )
        return self._fetch(call)

    def _partial(self, call: Call[Req], entry: Entry, served: tuple[int, int, int, int], age: float) -> Resp:
        """A 206 for one range of a stored response (RFC 9110 §15.3.7)."""
        first, last, length, start = served
        size = last - first + 1
        stored = entry.head
        headers = stored.headers.without(("content-length", "content-range"))
        headers = headers.replaced(
            Headers([("Content-Range", f"bytes {first}-{last}/{length}"), ("Content-Length", str(size))])
        )
        body = body_of(entry, start, start + size)
        if body is None:  # the lookup holds the body open until the response is built
            raise AssertionError("stored body let go too early")
        resp = self.transport.hit(
            call, stored.replace(status=206, reason="Partial Content", headers=headers), body, age, False
        )
        return self._tell(call, resp, "hit", RANGE_HIT, stored, age, body=size)

    # -- revalidation (RFC 9111 §4.3) ---------------------------------------------------

    def _validate(self, call: Call[Req], entry: Entry, decision: policy.Validate) -> Resp:
        """Send the request (conditional where we can: §4.3.1) and use the answer as the
        policy says (§4.3.3, §4.3.4; RFC 5861 §4)."""
        ctl, view = self.controller, call.view
        fields = decision.headers if not policy.is_conditional(view) else ()
        request_time = ctl.clock()
        try:
            resp = self._send(call, fields)
        except self.transport.unreachable:
            stale = policy.after_failure(
                view, entry.head, ctl.clock(), ctl.options, stale_if_error=decision.stale_if_error
            )
            if stale is None:
                raise
            log.debug("%s: serving it stale: %s", view.url, stale.reason)
            return self._serve(call, entry, stale.age, "stale_on_error", stale.reason)
        response_time = ctl.clock()
        return self._received(call, resp, request_time, response_time, entry, stale_if_error=decision.stale_if_error)

    def _refresh_later(self, call: Call[Req], entry: Entry, decision: policy.StaleWhileRevalidate) -> None:
        """RFC 5861 §3: revalidate ``stored`` in the background (bounded, one per key). A
        body kept in the store is not shared with the job: it looks the entry up again."""
        ctl, view = self.controller, call.view
        headers = view.headers.without(policy.CONDITIONAL_FIELDS).replaced(Headers(decision.headers))
        refresh_view = RequestView(view.method, view.url, headers, view.body_key)
        held = entry if isinstance(entry.body, bytes) else None

        def job() -> None:
            ctl.stats.add("background_refreshes")
            with ctl.lookup(refresh_view) if held is None else Held(held) as lookup:
                target = lookup.entry
                request_time = ctl.clock()
                resp = self._send(call, decision.headers, policy.CONDITIONAL_FIELDS, background=True)
                response_time = ctl.clock()
                rv = self.transport.view(resp)
                self._head_response(refresh_view, rv, request_time, response_time)
                outcome = policy.after_response(
                    refresh_view, lookup.stored, rv, request_time, response_time, ctl.clock(), ctl.options
                )
                if isinstance(outcome, policy.Freshen) and target is not None:
                    self.transport.discard(resp)
                    ctl.replace(target, outcome.fresh)
                elif (
                    isinstance(outcome, policy.Store)
                    and self._accepted(resp)
                    and isinstance(
                        self._tee_into_store(resp, refresh_view, rv, request_time, response_time), StoredResponse
                    )
                ):
                    self.transport.drain(resp)  # reading it through the tee stores it
                else:
                    if isinstance(outcome, policy.PassThrough) and outcome.remove is not None:
                        ctl.remove(outcome.remove)
                    self.transport.discard(resp)
            log.debug("revalidated %s in the background (RFC 5861 §3): %s", view.url, _reason(outcome))

        if not ctl.refresher.submit(f"{view.method} {view.url}", job):
            log.debug("background revalidation of %s already running or pool full", view.url)

    def close(self) -> None:
        """Stop background revalidation (running jobs are abandoned)."""
        self.controller.refresher.shutdown()


#: The modes in which nothing is sent to the origin.
_CACHE_ONLY = frozenset({"only-if-cached", "offline"})


def _reason(outcome: policy.ResponseOutcome) -> str:
    return outcome.reason
