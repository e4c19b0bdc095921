"""Redis clients for everything of ours that talks to Redis directly (price cache, pub/sub,
locks, depth interest, the alert evaluator's lock), from the one configured address, and the
breaker that keeps a Redis which stopped answering from hanging pages and health.

`settings.REDIS_URL` is either a plain `redis://` URL or, when `REDIS_SENTINELS` is set,
`redis+sentinel://MASTER` (settings.py builds it): clients then ask the sentinels for the
current master on every new connection, so a failover costs the commands in flight (which
raise `redis.ConnectionError`; every caller already retries) and nothing else.
Channels, django-redis and Celery get the same sentinels through their own settings.

Every command gives up after `REDIS_SOCKET_TIMEOUT_SECONDS` (connecting:
`REDIS_CONNECT_TIMEOUT_SECONDS`), read when a client is made. A timed-out command is not
retried (a hung Redis answers no sooner the second time); a refused or reset connection is,
at once (a restart, a failover). Blocking pub/sub reads are not cut short: redis-py 8 reads
`listen()` and `get_message(timeout=None)` without the socket timeout, and
`get_message(timeout=T)` waits T (sync and asyncio clients alike).

Requests (pages, the JSON API, health) make their calls inside `fail_fast()` (every HTTP
request, with `FailFastMiddleware`): after a timeout their calls raise `RedisUnreachable` at
once, and one every `FAIL_FAST_SECONDS` asks again, so a request makes at most one slow call
however many it makes. Loops (writers, lock renewals, listeners) always ask, at their own
pace; the first answer closes the breaker. Every `GuardedRedis` of a server shares one
breaker per process, as its pool is shared: ours, and the Django cache's when its
`REDIS_CLIENT_CLASS` is this one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, TypedDict, TypeVar, cast

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import NoBackoff
from redis.client import Pipeline
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel

SENTINEL_SCHEME = "redis+sentinel://"
HEALTH_CHECK_INTERVAL_SECONDS = 30  # an idle pooled connection is PINGed before reuse
CONNECTION_RETRIES = 2  # a connection refused or reset: asked again at once, this often
# After a timeout, request paths fail fast this long; then one of them asks again.
FAIL_FAST_SECONDS = 3.0
# The failures that cost time: a timeout (read, write or connect), or every sentinel asked
# in vain. A refused or reset connection fails fast by itself.
SLOW_FAILURES = (redis.TimeoutError, MasterNotFoundError)

_fail_fast: ContextVar[bool] = ContextVar("redis_fail_fast", default=False)
T = TypeVar("T")


class RedisUnreachable(redis.ConnectionError):
    """Raised at once inside `fail_fast()` while Redis is known not to answer."""


@contextmanager
def fail_fast() -> Iterator[None]:
    """Around a request's Redis calls (views, health): while the breaker of their server
    is open they raise RedisUnreachable instead of waiting for the socket timeout."""
    token = _fail_fast.set(True)
    try:
        yield
    finally:
        _fail_fast.reset(token)


class FailFastMiddleware:
    """Django middleware, first in `settings.MIDDLEWARE`: every HTTP request runs inside
    `fail_fast()`, the other middleware's Redis calls too (the API rate limiter's counts)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with fail_fast():
            return self.get_response(request)


class Breaker:
    """A process's knowledge that a Redis server stopped answering; thread-safe. A slow failure
    opens it, any answer closes it. While it is open, calls inside `fail_fast()` raise
    RedisUnreachable, except one per `open_seconds`, which asks again (the probe)."""

    def __init__(
        self,
        *,
        open_seconds: float = FAIL_FAST_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open_seconds = open_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._retry_at: float | None = None  # None: closed
        self._reason = ""

    @property
    def is_open(self) -> bool:
        return self._retry_at is not None

    def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)`, unless a request path should not wait for it."""
        if _fail_fast.get():
            self._admit()
        try:
            result = fn(*args, **kwargs)
        except SLOW_FAILURES as exc:
            with self._lock:
                self._retry_at, self._reason = self._clock() + self._open_seconds, str(exc)
            raise
        if self._retry_at is not None:
            with self._lock:
                self._retry_at = None
        return result

    def _admit(self) -> None:
        with self._lock:
            if self._retry_at is None:
                return
            now = self._clock()
            if now < self._retry_at:
                wait = self._retry_at - now
                raise RedisUnreachable(f"{self._reason} (not asked again for {wait:.1f} s)")
            self._retry_at = now + self._open_seconds  # this call asks; the rest fail fast


@lru_cache(maxsize=64)
def breaker_for(server: str) -> Breaker:
    """The process's one breaker for a Redis server (a Sentinel master by its name): what
    one client learns, every client of that server knows."""
    return Breaker()


def server_of(pool: redis.ConnectionPool) -> str:
    """Which server a pool's connections go to: `host:port`, a socket path, or `sentinel:NAME`."""
    service = getattr(pool, "service_name", None)
    if service:
        return f"sentinel:{service}"
    options = pool.connection_kwargs
    return options.get("path") or f"{options.get('host')}:{options.get('port')}"


class GuardedRedis(redis.Redis):
    """`redis.Redis` whose commands and pipelines go through its server's breaker (pub/sub,
    used only by loops, does not)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.breaker = breaker_for(server_of(self.connection_pool))

    def execute_command(self, *args: Any, **options: Any) -> Any:
        return self.breaker.call(super().execute_command, *args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return GuardedPipeline(
            self.breaker, self.connection_pool, self.response_callbacks, transaction, shard_hint
        )


class GuardedPipeline(Pipeline):
    """A pipeline whose `execute` goes through its client's breaker."""

    def __init__(self, breaker: Breaker, *args: Any) -> None:
        super().__init__(*args)
        self._breaker = breaker

    def execute(self, raise_on_error: bool = True) -> list:
        return self._breaker.call(super().execute, raise_on_error)


def sentinel_url(master: str) -> str:
    return SENTINEL_SCHEME + master


def sentinel_master(url: str) -> str | None:
    """The master's name when `url` means "through the sentinels", else None."""
    return url[len(SENTINEL_SCHEME) :] if url.startswith(SENTINEL_SCHEME) else None


class _Timeouts(TypedDict):
    socket_timeout: float
    socket_connect_timeout: float


def _timeouts() -> _Timeouts:
    return {
        "socket_timeout": settings.REDIS_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": settings.REDIS_CONNECT_TIMEOUT_SECONDS,
    }


def redis_client(url: str) -> GuardedRedis:
    """One connection pool per address and timeouts per process, with the timeouts the
    settings say now (hiredis parses replies when installed)."""
    sentinels = tuple(tuple(s) for s in settings.REDIS_SENTINELS or ())
    return _client(url, sentinels=sentinels, **_timeouts())


@lru_cache(maxsize=8)
def _client(
    url: str, *, sentinels: tuple, socket_timeout: float, socket_connect_timeout: float
) -> GuardedRedis:
    timeouts = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_connect_timeout}
    options = {
        "health_check_interval": HEALTH_CHECK_INTERVAL_SECONDS,
        "retry": Retry(NoBackoff(), CONNECTION_RETRIES, supported_errors=(redis.ConnectionError,)),
    }
    master = sentinel_master(url)
    if master is None:
        # redis-py annotates `from_url` as returning `Redis`; it makes a `cls`
        return cast(GuardedRedis, GuardedRedis.from_url(url, **timeouts, **options))
    sentinel = Sentinel(list(sentinels), sentinel_kwargs=dict(timeouts), **timeouts)
    return sentinel.master_for(master, redis_class=GuardedRedis, **options)


def async_redis_client(url: str) -> aioredis.Redis:
    """A new asyncio client (the caller closes it with `aclose()`): one per event loop."""
    timeouts = _timeouts()
    master = sentinel_master(url)
    if master is None:
        return aioredis.Redis.from_url(url, **timeouts)
    sentinel = AsyncSentinel(settings.REDIS_SENTINELS, sentinel_kwargs=dict(timeouts), **timeouts)
    return sentinel.master_for(master)
