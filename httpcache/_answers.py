"""The engine's response side: what comes back from the origin and what is handed over.

``Answers`` is the half of ``engine.Engine`` that carries out ``policy.after_response``
on a response from the origin (store it, freshen the stored one with a 304, serve stale on
an error, pass it through) and builds what the caller gets from the cache (a hit, a 304 to
its own conditional, the 504 of only-if-cached); every response handed over is told
(``CacheInfo`` on it, the cache's counters: ``_tell``). The request side (routing, modes,
lookups, coalescing, Range, revalidation, background refresh) is ``engine.Engine``'s, which
subclasses it. Like the engine it imports neither ``requests`` nor ``urllib3``.
"""

from __future__ import annotations

import logging
from typing import Callable, Generic, Optional, Union

from . import _leases, policy
from ._body import Entry
from ._headers import Headers
from ._info import CacheInfo
from ._settings import raise_on_miss
from ._transport import Body, Call, Req, Resp, Transport, body_of, damaged, expected_length, whole_body
from .controller import CacheController
from .exceptions import CacheMissError
from .models import RequestView, ResponseView, StoredResponse

log = logging.getLogger("httpcache")

__all__ = ["FRESH", "Answers"]

#: Reasons for the outcomes the policy's decisions carry none for.
FRESH = "fresh (RFC 9111 §4.2)"


class Answers(Generic[Req, Resp]):
    """The response side of the flows (see the module's docstring)."""

    controller: CacheController
    transport: Transport[Req, Resp]

    def _fetch(self, call: Call[Req], coalesce_key: Optional[str] = None) -> Resp:
        """Send ``call`` to the origin and carry out what comes back (the engine's)."""
        raise NotImplementedError

    def _bypassed(self, call: Call[Req], resp: Resp, reason: str, rv: Optional[ResponseView] = None) -> Resp:
        """A response from the origin the cache did not look up for (RFC 9111 §4)."""
        if rv is None:
            rv = self.transport.view(resp)
        return self._tell(call, self.transport.forwarded(resp), "bypassed", reason, body=_length(call.view, rv))

    def _received(
        self,
        call: Call[Req],
        resp: Resp,
        request_time: float,
        response_time: float,
        entry: Optional[Entry] = None,
        *,
        stale_if_error: bool = False,
        on_finish: Optional[Callable[[], None]] = None,
        coalesce_key: Optional[str] = None,
        shared: Optional[str] = None,
    ) -> Resp:
        """A response from the origin to ``call`` (sent for ``entry``, or a plain miss):
        carry out ``policy.after_response``. ``on_finish`` is called once it is stored, or
        known not to be. ``coalesce_key``: the miss was (or would have been) coalesced under
        this key, which is marked "pass" when the response is not storable (in the store
        too when ``shared``, the lease token, says other processes wait on it), and unmarked
        when it is."""
        ctl, view = self.controller, call.view
        rv = self.transport.view(resp)
        self._head_response(view, rv, request_time, response_time)
        if policy.cached_by_body(view):  # a POST still invalidates (RFC 9111 §4.4)
            ctl.invalidate(policy.invalidation_urls(view, rv))
        outcome = policy.after_response(
            view,
            None if entry is None else entry.head,
            rv,
            request_time,
            response_time,
            ctl.clock(),
            ctl.options,
            stale_if_error=stale_if_error,
        )
        refetched = entry is not None
        if isinstance(outcome, policy.Store) and not self._accepted(resp):
            outcome = policy.PassThrough("refused by the option filter_fn")
        if isinstance(outcome, policy.Store):
            stored = self._tee_into_store(resp, view, rv, request_time, response_time, on_finish)
            if isinstance(stored, StoredResponse):
                if coalesce_key is not None:
                    ctl.coalescer.storable(coalesce_key)
                return self._tell(
                    call,
                    self.transport.forwarded(resp),
                    "refetched" if refetched else "miss_stored",
                    outcome.reason,
                    stored,
                    body=_length(view, rv),
                )
            served: Optional[Resp] = None  # the store declines it (too large, down)
            reason = f"not stored: {stored}"
        elif isinstance(outcome, policy.PassThrough):
            log.debug("not stored: %s %s: %s", view.method, view.url, outcome.reason)
            if outcome.remove is not None:
                ctl.remove(outcome.remove)
            served = None
            reason = f"not stored: {outcome.reason}"
        else:
            if entry is None:  # these outcomes are about a stored response
                raise AssertionError(f"{outcome} without a stored response")
            served = self._from_outcome(call, resp, rv, outcome, entry)
        if coalesce_key is not None:
            _leases.mark_pass(ctl, coalesce_key, shared)
        if on_finish is not None:
            on_finish()
        if served is not None:
            return served
        outcome_name = "refetched" if refetched else "miss_not_stored"
        return self._tell(call, self.transport.forwarded(resp), outcome_name, reason, body=_length(view, rv))

    def _from_outcome(
        self,
        call: Call[Req],
        resp: Resp,
        rv: ResponseView,
        outcome: Union[policy.Freshen, policy.Unselected, policy.ServeStale],
        entry: Entry,
    ) -> Resp:
        """The response a revalidation's outcome hands over (RFC 9111 §4.3.4, RFC 5861 §4)."""
        ctl, view = self.controller, call.view
        if isinstance(outcome, policy.Freshen):
            fresh = ctl.replace(entry, outcome.fresh)
            if outcome.pass_through:  # the caller's own conditional: it gets the origin's 304
                forwarded = self.transport.forwarded(resp)
                return self._tell(call, forwarded, "revalidated", outcome.reason, fresh.head, 0.0, from_cache=False)
            self.transport.discard(resp)
            log.debug("revalidated %s: %s", view.url, outcome.reason)
            return self._serve(call, fresh, None, "revalidated", outcome.reason)
        self.transport.discard(resp)
        if isinstance(outcome, policy.Unselected):
            ctl.warn_contradiction(view.url, entry.head, rv)
            ctl.remove(entry.head)
            return self._serve(call, entry, outcome.age, "revalidated", outcome.reason)
        log.debug("%s: serving it stale: %s", view.url, outcome.reason)
        return self._serve(call, entry, outcome.age, "stale_on_error", outcome.reason)

    def _accepted(self, resp: Resp) -> bool:
        """``filter_fn``: may the cache keep this response (the transport's own response,
        its body not read yet)? A filter that fails says no (and is logged)."""
        keep = self.controller.options.filter_fn
        if keep is None:
            return True
        try:
            return bool(keep(resp))
        except Exception:
            log.warning("filter_fn raised: the response is not stored", exc_info=True)
            return False

    def _head_response(self, view: RequestView, rv: ResponseView, request_time: float, response_time: float) -> None:
        """RFC 9111 §4.3.5: a HEAD response updates or invalidates the stored GET responses."""
        if policy.updates_stored_get(view, rv):
            self.controller.head_response(view, rv, request_time, response_time)

    def _tee_into_store(
        self,
        resp: Resp,
        view: RequestView,
        rv: ResponseView,
        request_time: float,
        response_time: float,
        on_finish: Optional[Callable[[], None]] = None,
    ) -> Union[StoredResponse, str]:
        """Store ``resp`` as the answer to ``view`` once the caller has read all of it, then
        call ``on_finish``; the head being stored, or why not when it is known at once that
        it will not be (``on_finish`` then not called)."""
        expected = expected_length(view.method, rv)
        sink = self.controller.begin_store(view, rv, request_time, response_time, expected)
        if sink is None:
            self.controller.fallback(
                logging.INFO,
                "not stored: %s %s: the store takes no writes now, or none so large",
                view.method,
                view.url,
            )
            return "the store will not take it now (too large, or down)"
        if not self.transport.tee(resp, expected, sink, on_finish):
            self.controller.fallback(
                logging.INFO, "not stored: %s %s: its body is not readable by the cache", view.method, view.url
            )
            sink.abort()
            return "its body is not readable by the cache"
        return sink.stored

    def _serve(
        self,
        call: Call[Req],
        entry: Entry,
        age: Optional[float] = None,
        outcome: str = "hit",
        reason: str = FRESH,
        collapsed: bool = False,
    ) -> Resp:
        """A response from ``entry`` at ``age`` (default: its current age, RFC 9111 §4.2.3),
        told as ``outcome`` for ``reason``. A caller's own conditional is answered from it (§4.3.2)."""
        view, stored = call.view, entry.head
        if age is None:
            age = policy.current_age(stored, self.controller.clock())
        if policy.is_conditional(view) and policy.evaluate_conditional(view, stored):
            # RFC 9111 §4.3.2: the client's own copy is current
            resp = self.transport.build(call, 304, "Not Modified", policy.not_modified_headers(stored), b"", age)
            return self._tell(call, resp, outcome, reason, stored, age, collapsed, body=0)
        preload = not call.stream and stored.facts.identity_coded
        body: Optional[Body] = b"" if view.method == "HEAD" else whole_body(entry) if preload else None
        if body is None and not call.stream and damaged(entry):
            # damaged in the store (the entry is gone): a miss, for a caller who reads it whole;
            # one who streams it meets the damage as a broken transfer, before its last piece
            self.controller.fallback(
                logging.WARNING, "the stored body of %s was damaged: deleted, fetched from the origin", view.url
            )
            return self._fetch(call)
        if body is None:
            body = body_of(entry)
        if body is None:  # the lookup holds the body open until the response is built
            raise AssertionError("stored body let go too early")
        resp = self.transport.hit(call, stored, body, age, preload and isinstance(body, bytes))
        return self._tell(
            call, resp, outcome, reason, stored, age, collapsed, body=0 if view.method == "HEAD" else stored.body_length
        )

    def _gateway_timeout(self, call: Call[Req], reason: str = "") -> Resp:
        """RFC 9111 §5.2.1.7: only-if-cached (or a mode serving only from the cache) with
        nothing usable stored: a 504 (or, with ``raise_on_miss``, ``CacheMissError``)."""
        if not reason:
            reason = f"nothing usable stored (mode {call.mode}, RFC 9111 §5.2.1.7)"
        if raise_on_miss(self.controller.options):
            raise CacheMissError(call.view.url, reason)
        resp = self.transport.build(call, 504, "Gateway Timeout", Headers([("Content-Length", "0")]), b"", None)
        return self._tell(call, resp, "only_if_cached", reason)

    def _tell(
        self,
        call: Call[Req],
        resp: Resp,
        outcome: str,
        reason: str,
        stored: Optional[StoredResponse] = None,
        age: Optional[float] = None,
        collapsed: bool = False,
        *,
        body: Optional[int] = None,
        from_cache: Optional[bool] = None,
    ) -> Resp:
        """Count what happened and set it on the response handed over (``CacheInfo``;
        with ``options.cache_status``, an RFC 9211 ``Cache-Status`` member too)."""
        ctl, view = self.controller, call.view
        info = CacheInfo(
            outcome,
            reason,
            view.method,
            view.url,
            ctl.clock(),
            ctl.options,
            stored,
            age,
            collapsed,
            from_cache,
            call.fwd,
            view.body_key,
        )
        ctl.stats.record(info, body)
        name = ctl.options.cache_status
        self.transport.annotate(resp, info, None if name is None else info.cache_status(name))
        return resp


def _length(view: RequestView, rv: ResponseView) -> Optional[int]:
    """The body length a response from the origin announces (RFC 9112 §6.3), if it does."""
    return expected_length(view.method, rv)
