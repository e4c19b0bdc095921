"""The price cache: `ltp:SEG:SID` -> plain decimal string, TTL 30 s.

With `REDIS_URL` it is Redis itself (raw keys, one pipeline per flush, one MGET per read);
without, the Django cache of the process. `PriceSink` is the ONE writer of prices: the feed
thread hands it ticks, it keeps the latest per key and flushes them together.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import redis
from django.conf import settings
from django.core.cache import cache as django_cache

logger = logging.getLogger(__name__)

LTP_KEY_PREFIX = "ltp:"
# Alongside the 30 s live price: the last known price and the previous close, kept for a
# week so that pages can show them when the market is closed or the feed is down. Redis
# keeps each in one hash (field SEG:SID): one command per flush, not one per key.
LAST_HASH = "ltp_last"
PREV_CLOSE_HASH = "prev_close"
LAST_KEY_PREFIX = LAST_HASH + ":"  # the embedded cache's keys
PREV_CLOSE_KEY_PREFIX = PREV_CLOSE_HASH + ":"
KEEP_SECONDS = 7 * 24 * 3600
LIVE_UPDATES_CHANNEL = "live_ltp_updates"
HEARTBEAT_KEY = "market_stream:heartbeat"
HEARTBEAT_TTL_SECONDS = 60


def ltp_key(instrument_key: str) -> str:
    return LTP_KEY_PREFIX + instrument_key


def format_price(price: float) -> str:
    """Snapped prices print exactly (1612.35); integers keep one decimal (152000.0)."""
    return repr(float(price))


@lru_cache(maxsize=4)
def redis_client(url: str) -> redis.Redis:
    """One connection pool per URL per process (hiredis parses replies when installed)."""
    return redis.Redis.from_url(
        url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30
    )


@dataclass(frozen=True, slots=True)
class Quotes:
    """What a page shows for its keys: live price, last known price, previous close."""

    live: dict[str, float]
    last: dict[str, float]
    prev_close: dict[str, float]


def _floats(keys: list[str], values: Iterable[object]) -> dict[str, float]:
    return {k: float(v) for k, v in zip(keys, values, strict=True) if v is not None}


class PriceStore:
    """Where prices live. Subclasses: Redis (full stack) and the Django cache (embedded)."""

    def write(
        self,
        prices: Mapping[str, float],
        *,
        ttl_seconds: int,
        message: str,
        prev_closes: Mapping[str, float] | None = None,
    ) -> None:
        raise NotImplementedError

    def read(self, keys: Iterable[str]) -> dict[str, float]:
        raise NotImplementedError

    def read_quotes(self, keys: Iterable[str]) -> Quotes:
        raise NotImplementedError

    def heartbeat(self, *, now: datetime) -> None:
        raise NotImplementedError

    def last_heartbeat(self) -> str | None:
        raise NotImplementedError


class RedisPriceStore(PriceStore):
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def write(
        self,
        prices: Mapping[str, float],
        *,
        ttl_seconds: int,
        message: str,
        prev_closes: Mapping[str, float] | None = None,
    ) -> None:
        pipe = self.client.pipeline(transaction=False)
        texts = {key: format_price(price) for key, price in prices.items()}
        for key, text in texts.items():
            pipe.set(ltp_key(key), text, ex=ttl_seconds)  # SETEX: SET EX
        for name, values in (
            (LAST_HASH, texts),
            (PREV_CLOSE_HASH, {k: format_price(p) for k, p in (prev_closes or {}).items()}),
        ):
            if values:
                pipe.hset(name, mapping=values)
                pipe.expire(name, KEEP_SECONDS)
        if prices:
            pipe.publish(LIVE_UPDATES_CHANNEL, message)
        pipe.execute()

    def read(self, keys: Iterable[str]) -> dict[str, float]:
        keys = list(keys)
        if not keys:
            return {}
        return _floats(keys, self.client.mget([ltp_key(k) for k in keys]))

    def read_quotes(self, keys: Iterable[str]) -> Quotes:
        keys = list(keys)
        if not keys:
            return Quotes({}, {}, {})
        pipe = self.client.pipeline(transaction=False)  # one round trip for all three
        pipe.mget([ltp_key(k) for k in keys])
        pipe.hmget(LAST_HASH, keys)
        pipe.hmget(PREV_CLOSE_HASH, keys)
        live, last, prev = pipe.execute()
        return Quotes(_floats(keys, live), _floats(keys, last), _floats(keys, prev))

    def heartbeat(self, *, now: datetime) -> None:
        self.client.set(HEARTBEAT_KEY, now.isoformat(), ex=HEARTBEAT_TTL_SECONDS)

    def last_heartbeat(self) -> str | None:
        value = self.client.get(HEARTBEAT_KEY)
        return value.decode() if value is not None else None


class LocalPriceStore(PriceStore):
    """Embedded mode: the process's Django cache plus in-process listeners (the
    broadcaster's), called on the writing thread."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[str], None]] = []

    def write(
        self,
        prices: Mapping[str, float],
        *,
        ttl_seconds: int,
        message: str,
        prev_closes: Mapping[str, float] | None = None,
    ) -> None:
        texts = {k: format_price(p) for k, p in prices.items()}
        django_cache.set_many({ltp_key(k): t for k, t in texts.items()}, timeout=ttl_seconds)
        django_cache.set_many(
            {LAST_KEY_PREFIX + k: t for k, t in texts.items()}, timeout=KEEP_SECONDS
        )
        if prev_closes:
            django_cache.set_many(
                {PREV_CLOSE_KEY_PREFIX + k: format_price(p) for k, p in prev_closes.items()},
                timeout=KEEP_SECONDS,
            )
        if prices:
            for listener in list(self.listeners):
                listener(message)

    def _get(self, prefix: str, keys: list[str]) -> dict[str, float]:
        found = django_cache.get_many([prefix + k for k in keys])
        return {k: float(found[prefix + k]) for k in keys if prefix + k in found}

    def read(self, keys: Iterable[str]) -> dict[str, float]:
        return self._get(LTP_KEY_PREFIX, list(keys))

    def read_quotes(self, keys: Iterable[str]) -> Quotes:
        keys = list(keys)
        return Quotes(
            self._get(LTP_KEY_PREFIX, keys),
            self._get(LAST_KEY_PREFIX, keys),
            self._get(PREV_CLOSE_KEY_PREFIX, keys),
        )

    def heartbeat(self, *, now: datetime) -> None:
        django_cache.set(HEARTBEAT_KEY, now.isoformat(), timeout=HEARTBEAT_TTL_SECONDS)

    def last_heartbeat(self) -> str | None:
        return django_cache.get(HEARTBEAT_KEY)


def price_store() -> PriceStore:
    """The configured store, chosen at call time from settings.REDIS_URL. Embedded mode's
    is a fresh view of the Django cache: writes through it reach no listener (a process's
    feeds write through the store its runtime made, which its broadcaster listens to)."""
    if settings.REDIS_URL:
        return RedisPriceStore(redis_client(settings.REDIS_URL))
    return LocalPriceStore()


class PriceSink:
    """The one choke point that writes prices: coalesce ticks, flush in one round trip.

    A market-feed connection hands it the latest price per key (from its scanner, on the
    connection's loop: `put_many`, no I/O) at most every 50 ms, and its writer thread
    calls `flush`, which writes every key that changed since the last flush and publishes
    them as one message. Thread-safe; a failed flush keeps its prices (newer ones win).
    """

    def __init__(
        self,
        *,
        store: PriceStore | None = None,
        ttl_seconds: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store or price_store()
        self._ttl = ttl_seconds or settings.LTP_CACHE_TTL_SECONDS
        self._clock = clock
        self._pending: dict[str, float] = {}
        self._prev_closes: dict[str, float] = {}
        self._lock = threading.Lock()

    def put(self, key: str, price: float) -> None:
        with self._lock:
            self._pending[key] = price

    def put_many(self, prices: Iterable[tuple[str, float]]) -> None:
        with self._lock:
            self._pending.update(prices)

    def put_prev_closes(self, prices: Mapping[str, float]) -> None:
        with self._lock:
            self._prev_closes.update(prices)

    def flush(self) -> int:
        """Write what is pending; returns how many prices were written."""
        with self._lock:
            pending, self._pending = self._pending, {}
            closes, self._prev_closes = self._prev_closes, {}
        if not pending and not closes:
            return 0
        message = json.dumps(
            {"type": "ltp_batch", "ts": self._clock(), "prices": pending}, separators=(",", ":")
        )
        try:
            self._store.write(pending, ttl_seconds=self._ttl, message=message, prev_closes=closes)
        except redis.RedisError:
            with self._lock:  # keep what we could not write, newer values win
                self._pending = {**pending, **self._pending}
                self._prev_closes = {**closes, **self._prev_closes}
            raise
        return len(pending)

    def heartbeat(self) -> None:
        self._store.heartbeat(now=datetime.fromtimestamp(self._clock(), tz=UTC))
