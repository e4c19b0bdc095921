"""The price cache: `ltp:SEG:SID` -> plain decimal string, TTL 30 s; beside it the QUOTE
(`quote:SEG:SID`) and BOOK (`depth:SEG:SID`) records as JSON with the same TTL, and the
hashes of last known prices and previous closes.

In the full stack it is Redis itself (raw keys, one pipeline per flush, one MGET per read);
embedded, the Django cache of the process (`prices.deployment` chooses). `prices.sink.PriceSink`
is the ONE writer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from django.core.cache import cache as django_cache

from prices.deployment import current
from prices.redisconn import redis_client as redis_client  # re-exported for its importers

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
QUOTE_KEY_PREFIX = "quote:"  # quote:SEG:SID -> a QUOTE as JSON, TTL as the price's
DEPTH_KEY_PREFIX = "depth:"  # depth:SEG:SID -> a BOOK as JSON, TTL as the price's
# candle:SEG:SID -> a CANDLE record (`history.live`): kept through a worker's restart.
CANDLE_KEY_PREFIX = "candle:"
CANDLE_TTL_SECONDS = 12 * 3600
LIVE_UPDATES_CHANNEL = "live_ltp_updates"
HEARTBEAT_KEY = "market_stream:heartbeat"
HEARTBEAT_TTL_SECONDS = 60


def ltp_key(instrument_key: str) -> str:
    return LTP_KEY_PREFIX + instrument_key


def _json(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"))


def format_price(price: float) -> str:
    """Snapped prices print exactly (1612.35); integers keep one decimal (152000.0)."""
    return repr(float(price))


@dataclass(frozen=True, slots=True)
class Quotes:
    """What a page shows for its keys: live price, last known price, previous close."""

    live: dict[str, float]
    last: dict[str, float]
    prev_close: dict[str, float]


@dataclass(frozen=True, slots=True)
class Batch:
    """One flush: the latest value per key of everything a feed decoded since the last."""

    prices: Mapping[str, float]
    message: str  # the `live_ltp_updates` message announcing `prices`
    prev_closes: Mapping[str, float] = field(default_factory=dict)
    quotes: Mapping[str, dict] = field(default_factory=dict)  # QUOTE records
    books: Mapping[str, dict] = field(default_factory=dict)  # BOOK records
    # Full mode's 5-level books; the depth connection's 20-level ones go under `depth20:`
    # with a TTL of their own (`prices.depthwatch`).
    books_prefix: str = DEPTH_KEY_PREFIX
    books_ttl_seconds: int | None = None
    candles: Mapping[str, dict] = field(default_factory=dict)  # CANDLE records

    @property
    def announces(self) -> bool:
        """Whether the batch's message goes to the broadcaster."""
        return bool(self.prices or self.quotes or self.books or self.candles)


def _records(keys: list[str], values: Iterable[str | bytes | None]) -> dict[str, dict]:
    return {k: json.loads(v) for k, v in zip(keys, values, strict=True) if v is not None}


def _floats(keys: list[str], values: Iterable[str | bytes | None]) -> dict[str, float]:
    return {k: float(v) for k, v in zip(keys, values, strict=True) if v is not None}


class PriceStore:
    """Where prices live. Subclasses: Redis (full stack) and the Django cache (embedded)."""

    def write(self, batch: Batch, *, ttl_seconds: int) -> None:
        raise NotImplementedError

    def read(self, keys: Iterable[str]) -> dict[str, float]:
        raise NotImplementedError

    def read_quotes(self, keys: Iterable[str]) -> Quotes:
        raise NotImplementedError

    def read_records(self, prefix: str, keys: Iterable[str]) -> dict[str, dict]:
        """QUOTE (`QUOTE_KEY_PREFIX`) or BOOK (`DEPTH_KEY_PREFIX`) records by key."""
        raise NotImplementedError

    def heartbeat(self, *, now: datetime) -> None:
        raise NotImplementedError

    def last_heartbeat(self) -> str | None:
        raise NotImplementedError


class RedisPriceStore(PriceStore):
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def write(self, batch: Batch, *, ttl_seconds: int) -> None:
        pipe = self.client.pipeline(transaction=False)
        # Keys typed Any: redis-py types `hset(mapping=...)` invariantly in its key type.
        texts: dict[Any, str] = {key: format_price(price) for key, price in batch.prices.items()}
        for key, text in texts.items():
            pipe.set(ltp_key(key), text, ex=ttl_seconds)  # SETEX: SET EX
        for key, record in batch.quotes.items():
            pipe.set(QUOTE_KEY_PREFIX + key, _json(record), ex=ttl_seconds)
        for key, record in batch.books.items():
            pipe.set(
                batch.books_prefix + key, _json(record), ex=batch.books_ttl_seconds or ttl_seconds
            )
        for key, record in batch.candles.items():
            pipe.set(CANDLE_KEY_PREFIX + key, _json(record), ex=CANDLE_TTL_SECONDS)
        closes: dict[Any, str] = {k: format_price(p) for k, p in batch.prev_closes.items()}
        for name, values in ((LAST_HASH, texts), (PREV_CLOSE_HASH, closes)):
            if values:
                pipe.hset(name, mapping=values)
                pipe.expire(name, KEEP_SECONDS)
        if batch.announces:
            pipe.publish(LIVE_UPDATES_CHANNEL, batch.message)
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

    def read_records(self, prefix: str, keys: Iterable[str]) -> dict[str, dict]:
        keys = list(keys)
        return _records(keys, self.client.mget([prefix + k for k in keys])) if keys else {}

    def heartbeat(self, *, now: datetime) -> None:
        self.client.set(HEARTBEAT_KEY, now.isoformat(), ex=HEARTBEAT_TTL_SECONDS)

    def last_heartbeat(self) -> str | None:
        value = self.client.get(HEARTBEAT_KEY)
        return value.decode() if isinstance(value, bytes) else value


class LocalPriceStore(PriceStore):
    """Embedded mode: the process's Django cache plus in-process listeners (the
    broadcaster's), called on the writing thread."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[str], None]] = []

    def write(self, batch: Batch, *, ttl_seconds: int) -> None:
        texts = {k: format_price(p) for k, p in batch.prices.items()}
        live = {ltp_key(k): t for k, t in texts.items()}
        live.update((QUOTE_KEY_PREFIX + k, _json(r)) for k, r in batch.quotes.items())
        django_cache.set_many(live, timeout=ttl_seconds)
        books = {batch.books_prefix + k: _json(r) for k, r in batch.books.items()}
        django_cache.set_many(books, timeout=batch.books_ttl_seconds or ttl_seconds)
        candles = {CANDLE_KEY_PREFIX + k: _json(r) for k, r in batch.candles.items()}
        django_cache.set_many(candles, timeout=CANDLE_TTL_SECONDS)
        kept = {LAST_KEY_PREFIX + k: t for k, t in texts.items()}
        kept.update(
            (PREV_CLOSE_KEY_PREFIX + k, format_price(p)) for k, p in batch.prev_closes.items()
        )
        django_cache.set_many(kept, timeout=KEEP_SECONDS)
        if batch.announces:
            for listener in list(self.listeners):
                listener(batch.message)

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

    def read_records(self, prefix: str, keys: Iterable[str]) -> dict[str, dict]:
        keys = list(keys)
        found = django_cache.get_many([prefix + k for k in keys])
        return {k: json.loads(found[prefix + k]) for k in keys if prefix + k in found}

    def heartbeat(self, *, now: datetime) -> None:
        django_cache.set(HEARTBEAT_KEY, now.isoformat(), timeout=HEARTBEAT_TTL_SECONDS)

    def last_heartbeat(self) -> str | None:
        return django_cache.get(HEARTBEAT_KEY)


def price_store() -> PriceStore:
    """The deployment's store, chosen at call time. Embedded mode's is a fresh view of the
    Django cache: writes through it reach no listener (a process's feeds write through the
    store its runtime made, which its broadcaster listens to)."""
    return current().choose(embedded=LocalPriceStore, shared=RedisPriceStore)
