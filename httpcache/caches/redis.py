"""A store on a Redis server, with a circuit breaker so that a dead Redis costs
microseconds per request, not a timeout per request.

Needs the ``redis`` package (``pip install httpcache[redis]``), imported only when
a ``RedisCache`` is created. Keys are ``prefix + key``; an expiry hint becomes a
``PX`` TTL. After a connection error or timeout the breaker opens: for a
cool-down (1 s, doubling at each consecutive failure up to 30 s) every call
returns at once (``get`` a miss, ``set`` / ``delete`` nothing); then one call
probes Redis, and a success closes the breaker. Only a call made since the breaker
last changed counts: one already under way when Redis went down may still succeed
(its reply was on the wire) or fail late, and says nothing about Redis now. Other
Redis errors (say ``WRONGTYPE``) are raised, for the controller to log and turn
into a miss.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from typing import Any, Callable, Iterator, Optional, Union

from ..cache import BaseCache, Expiry, expiry_seconds
from ..exceptions import HTTPCacheError

log = logging.getLogger("httpcache")

__all__ = ["RedisCache"]

_LEASE = "lease:"
_RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
# KEYS[1]; ARGV: "1" if a value is expected (else absence), the expected value, "1" to set
# (else delete), the value, its TTL in ms ("0": none)
_CAS_SCRIPT = """
local current = redis.call('get', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if ARGV[3] ~= '1' then
  redis.call('del', KEYS[1])
elseif ARGV[5] ~= '0' then
  redis.call('set', KEYS[1], ARGV[4], 'PX', ARGV[5])
else
  redis.call('set', KEYS[1], ARGV[4])
end
return 1
"""
_MAX_TTL_MS = 10 * 365 * 24 * 3600 * 1000  # about ten years: well inside what SET ... PX accepts
_CLEAR_BATCH = 500


def _glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis ``MATCH`` pattern."""
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)


class RedisCache(BaseCache):
    """A Redis store: ``SET ... PX`` for expiry hints, prefix-scoped ``clear()``, a circuit breaker.

    ``client_or_url`` is a ``redis.Redis`` (yours: its timeouts apply and
    ``close()`` leaves it open) or a URL (``redis://host:6379/0``; the client is
    made with ``socket_timeout`` for connecting and for each reply, no retries,
    and is closed by ``close()``). Values longer than ``max_entry_size`` bytes are
    not stored (and any older value under the key is deleted). ``cooldown`` /
    ``max_cooldown`` are the breaker's first and longest pauses in seconds.
    """

    def __init__(
        self,
        client_or_url: Union[str, Any],
        prefix: str = "httpcache:",
        *,
        max_entry_size: Optional[int] = None,
        socket_timeout: float = 0.25,
        cooldown: float = 1.0,
        max_cooldown: float = 30.0,
    ) -> None:
        try:
            import redis
        except ImportError as exc:
            raise HTTPCacheError("RedisCache needs the redis package: pip install httpcache[redis]") from exc
        if not isinstance(prefix, str):
            raise HTTPCacheError(f"prefix must be a str, not {prefix!r}")
        if max_entry_size is not None and (
            isinstance(max_entry_size, bool) or not isinstance(max_entry_size, int) or max_entry_size < 0
        ):
            raise HTTPCacheError(f"max_entry_size must be an int >= 0 or None, not {max_entry_size!r}")
        for name, seconds in (("socket_timeout", socket_timeout), ("cooldown", cooldown)):
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
                raise HTTPCacheError(f"{name} must be a number of seconds > 0, not {seconds!r}")
        self._owns_client = isinstance(client_or_url, str)
        if isinstance(client_or_url, str):
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            self.client: Any = redis.Redis.from_url(
                client_or_url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
                retry=Retry(NoBackoff(), 0),
            )
        else:
            self.client = client_or_url
        pool = getattr(self.client, "connection_pool", None)
        if getattr(pool, "connection_kwargs", {}).get("decode_responses"):
            raise HTTPCacheError("RedisCache needs a client made with decode_responses=False: values are bytes")
        self.prefix = prefix
        self.max_entry_size = max_entry_size
        self.cooldown = float(cooldown)
        self.max_cooldown = max(float(max_cooldown), self.cooldown)
        self._outage: tuple[type[BaseException], ...] = (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
        )
        self._clock: Callable[[], float] = time.monotonic
        self._lock = threading.Lock()
        self._open_until = 0.0  # 0: the breaker is closed
        self._pause = self.cooldown
        # Bumped when the breaker opens and at each probe; a call carries the epoch it was
        # let through in, and only a call of the current epoch may close or reopen the breaker.
        self._epoch = 0
        self.failures = 0  # connection errors and timeouts seen
        self.skipped = 0  # calls not made because the breaker was open (each told: skipped_call)

    @property
    def breaker_open(self) -> bool:
        """True while calls are skipped after a connection failure."""
        return self._clock() < self._open_until

    # -- the store interface ----------------------------------------------------------

    def get(self, key: str) -> Optional[bytes]:
        ticket = self._allow()
        if ticket is None:
            return None
        try:
            value = self.client.get(self.prefix + key)
        except self._outage as exc:
            self._failure(exc, ticket)
            return None
        self._success(ticket)
        if value is None or isinstance(value, bytes):
            return value
        log.debug("RedisCache: %r holds a %s, not bytes: a miss", key, type(value).__name__)
        return None

    def set(self, key: str, value: bytes, expires: Expiry = None) -> None:
        """Store ``value`` with a TTL of ``expires``: seconds, a ``timedelta``, or a
        ``datetime`` to expire at (a naive one is UTC, as in cachecontrol)."""
        expires = expiry_seconds(expires)
        if self.max_entry_size is not None and len(value) > self.max_entry_size:
            log.debug(
                "RedisCache: a %d-byte value is over max_entry_size=%d: not stored", len(value), self.max_entry_size
            )
            self.delete(key)
            return
        px: Optional[int] = None
        if expires is not None and not math.isnan(expires):
            if expires <= 0:
                self.delete(key)
                return
            ms = expires * 1000.0
            px = _MAX_TTL_MS if ms >= _MAX_TTL_MS else max(1, math.ceil(ms))
        ticket = self._allow()
        if ticket is None:
            return
        try:
            self.client.set(self.prefix + key, value, px=px)
        except self._outage as exc:
            self._failure(exc, ticket)
            return
        self._success(ticket)

    def compare_and_set(
        self, key: str, expected: Optional[bytes], value: Optional[bytes], expires: Optional[float] = None
    ) -> bool:
        """``BaseCache.compare_and_set`` in one Lua script (atomic on the server). While the
        breaker is open, or Redis is unreachable: False, nothing changed."""
        if value is not None and self.max_entry_size is not None and len(value) > self.max_entry_size:
            return False
        px = 0
        if value is not None and expires is not None and not math.isnan(expires):
            if expires <= 0:
                value = None
            else:
                ms = expires * 1000.0
                px = _MAX_TTL_MS if ms >= _MAX_TTL_MS else max(1, math.ceil(ms))
        ticket = self._allow()
        if ticket is None:
            return False
        args = (
            b"0" if expected is None else b"1",
            expected or b"",
            b"0" if value is None else b"1",
            value or b"",
            str(px).encode("ascii"),
        )
        try:
            done = self.client.eval(_CAS_SCRIPT, 1, self.prefix + key, *args)
        except self._outage as exc:
            self._failure(exc, ticket)
            return False
        self._success(ticket)
        return bool(done)

    def max_value_size(self) -> Optional[int]:
        """``max_entry_size``, or 0 while the breaker is open (Redis takes no writes then):
        a body is then not even collected."""
        return 0 if self.breaker_open else self.max_entry_size

    def delete(self, key: str) -> None:
        ticket = self._allow()
        if ticket is None:
            return
        try:
            self.client.delete(self.prefix + key)
        except self._outage as exc:
            self._failure(exc, ticket)
            return
        self._success(ticket)

    def acquire_lease(self, key: str, seconds: float) -> Optional[str]:
        """Cross-process coalescing: ``SET <prefix>lease:<key> <token> NX PX``. While Redis is
        unreachable every caller gets an empty token (fetch, uncoordinated)."""
        ticket = self._allow()
        if ticket is None:
            return ""
        token = secrets.token_hex(16)
        ms = max(1, min(_MAX_TTL_MS, math.ceil(seconds * 1000.0)))
        try:
            taken = self.client.set(self.prefix + _LEASE + key, token.encode("ascii"), nx=True, px=ms)
        except self._outage as exc:
            self._failure(exc, ticket)
            return ""
        self._success(ticket)
        return token if taken else None

    def release_lease(self, key: str, token: str) -> None:
        """Delete the lease if it is still ours (compare and delete in one script)."""
        ticket = self._allow()
        if ticket is None or not token:
            return
        try:
            self.client.eval(_RELEASE_SCRIPT, 1, self.prefix + _LEASE + key, token.encode("ascii"))
        except self._outage as exc:
            self._failure(exc, ticket)
            return
        self._success(ticket)

    def keys(self) -> Iterator[str]:
        """Every key under this store's prefix (``SCAN``), its leases left out; errors are raised."""
        skip = self.prefix + _LEASE
        for name in self.client.scan_iter(match=_glob_escape(self.prefix) + "*", count=_CLEAR_BATCH):
            text = name.decode("utf-8", "surrogateescape") if isinstance(name, bytes) else str(name)
            if not text.startswith(skip):
                yield text[len(self.prefix) :]

    def clear(self) -> None:
        """Delete every key under this store's prefix (``SCAN`` and ``DEL`` in batches; errors are raised)."""
        batch: list[Any] = []
        for name in self.client.scan_iter(match=_glob_escape(self.prefix) + "*", count=_CLEAR_BATCH):
            batch.append(name)
            if len(batch) >= _CLEAR_BATCH:
                self.client.delete(*batch)
                batch = []
        if batch:
            self.client.delete(*batch)

    def close(self) -> None:
        """Close the client if this store made it from a URL."""
        if self._owns_client:
            self.client.close()

    # -- the circuit breaker ----------------------------------------------------------

    def _allow(self) -> Optional[int]:
        """May a call go to Redis now? While open: no (None). Once the pause is over: one probe
        at a time. Else the call's ticket: the epoch it goes in."""
        ticket = self._epoch  # read before the state: a breaker opening in between makes it stale
        if self._open_until == 0.0:
            return ticket
        now = self._clock()
        with self._lock:
            if self._open_until == 0.0:
                return self._epoch
            if now >= self._open_until:
                self._open_until = now + self._pause  # this call probes; the others keep skipping
                self._epoch += 1
                return self._epoch
            self.skipped += 1
        self.skipped_call()  # (told outside the lock: the caches using this store count it)
        return None

    def _success(self, ticket: int) -> None:
        if self._open_until == 0.0:
            return
        with self._lock:
            if ticket != self._epoch or self._open_until == 0.0:
                return  # a call from before the breaker opened: its reply says nothing about Redis now
            self._open_until = 0.0
            self._pause = self.cooldown
        log.info("RedisCache: Redis answers again")

    def _failure(self, exc: BaseException, ticket: int) -> None:
        with self._lock:
            self.failures += 1
            if ticket != self._epoch:
                return  # a call from before the breaker last opened or probed: already dealt with
            pause = self._pause
            self._open_until = self._clock() + pause
            self._pause = min(pause * 2.0, self.max_cooldown)
            self._epoch += 1
        log.warning("RedisCache: Redis unreachable (%s: %s): skipping it for %.1f s", type(exc).__name__, exc, pause)
