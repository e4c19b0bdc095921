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
from datetime import UTC, datetime
from functools import lru_cache

import redis
from django.conf import settings
from django.core.cache import cache as django_cache

logger = logging.getLogger(__name__)

LTP_KEY_PREFIX = "ltp:"
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
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5,
                                health_check_interval=30)  # fmt: skip


class PriceStore:
    """Where prices live. Subclasses: Redis (full stack) and the Django cache (embedded)."""

    def write(self, prices: Mapping[str, float], *, ttl_seconds: int, message: str) -> None:
        raise NotImplementedError

    def read(self, keys: Iterable[str]) -> dict[str, float]:
        raise NotImplementedError

    def heartbeat(self, *, now: datetime) -> None:
        raise NotImplementedError

    def last_heartbeat(self) -> str | None:
        raise NotImplementedError


class RedisPriceStore(PriceStore):
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def write(self, prices: Mapping[str, float], *, ttl_seconds: int, message: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key, price in prices.items():
            pipe.set(ltp_key(key), format_price(price), ex=ttl_seconds)  # SETEX: SET EX
        pipe.publish(LIVE_UPDATES_CHANNEL, message)
        pipe.execute()

    def read(self, keys: Iterable[str]) -> dict[str, float]:
        keys = list(keys)
        if not keys:
            return {}
        values = self.client.mget([ltp_key(k) for k in keys])
        return {k: float(v) for k, v in zip(keys, values, strict=True) if v is not None}

    def heartbeat(self, *, now: datetime) -> None:
        self.client.set(HEARTBEAT_KEY, now.isoformat(), ex=HEARTBEAT_TTL_SECONDS)

    def last_heartbeat(self) -> str | None:
        value = self.client.get(HEARTBEAT_KEY)
        return value.decode() if value is not None else None


class LocalPriceStore(PriceStore):
    """Embedded mode: the process's Django cache plus in-process listeners."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[str], None]] = []

    def write(self, prices: Mapping[str, float], *, ttl_seconds: int, message: str) -> None:
        django_cache.set_many(
            {ltp_key(k): format_price(p) for k, p in prices.items()}, timeout=ttl_seconds
        )
        for listener in list(self.listeners):
            listener(message)

    def read(self, keys: Iterable[str]) -> dict[str, float]:
        keys = list(keys)
        found = django_cache.get_many([ltp_key(k) for k in keys])
        return {k: float(found[ltp_key(k)]) for k in keys if ltp_key(k) in found}

    def heartbeat(self, *, now: datetime) -> None:
        django_cache.set(HEARTBEAT_KEY, now.isoformat(), timeout=HEARTBEAT_TTL_SECONDS)

    def last_heartbeat(self) -> str | None:
        return django_cache.get(HEARTBEAT_KEY)


_local_store = LocalPriceStore()


def price_store() -> PriceStore:
    """The configured store, chosen at call time from settings.REDIS_URL."""
    if settings.REDIS_URL:
        return RedisPriceStore(redis_client(settings.REDIS_URL))
    return _local_store


class PriceSink:
    """The one choke point that writes prices: coalesce ticks, flush in one round trip.

    `put` is called by the feed thread for every tick; `flush` writes the latest value of
    every key that changed since the last flush and publishes them as one message.
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
        self._lock = threading.Lock()
        self.ticks_received = 0
        self.flushes = 0

    def put(self, key: str, price: float) -> None:
        with self._lock:
            self._pending[key] = price
            self.ticks_received += 1

    def put_many(self, prices: Iterable[tuple[str, float]]) -> None:
        with self._lock:
            count = 0
            for key, price in prices:
                self._pending[key] = price
                count += 1
            self.ticks_received += count

    def flush(self) -> int:
        """Write what is pending; returns how many keys were written."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        message = json.dumps({"type": "ltp_batch", "ts": self._clock(), "prices": pending},
                             separators=(",", ":"))  # fmt: skip
        try:
            self._store.write(pending, ttl_seconds=self._ttl, message=message)
        except redis.RedisError:
            with self._lock:  # keep what we could not write, newer values win
                self._pending = {**pending, **self._pending}
            raise
        self.flushes += 1
        return len(pending)

    def heartbeat(self) -> None:
        self._store.heartbeat(now=datetime.fromtimestamp(self._clock(), tz=UTC))
