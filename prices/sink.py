"""`PriceSink`, the one choke point that writes prices, quotes and books to the cache: it
coalesces what a feed decodes (latest value per key) and flushes it in one round trip."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

import redis
from django.conf import settings

from prices.cache import DEPTH_KEY_PREFIX, Batch, PriceStore, price_store

KINDS = ("prices", "prev_closes", "quotes", "books", "candles")


class PriceSink:
    """A market-feed connection hands it the latest value per key (from its scanner, on the
    connection's loop: `put_*`, no I/O) at most every 50 ms, and its writer thread calls
    `flush`, which writes every key that changed since the last flush and publishes the
    prices as one message. Thread-safe; a failed flush keeps what it could not write
    (newer values win)."""

    def __init__(
        self,
        *,
        store: PriceStore | None = None,
        ttl_seconds: int | None = None,
        clock: Callable[[], float] = time.time,
        books_prefix: str = DEPTH_KEY_PREFIX,
        books_ttl_seconds: int | None = None,
    ) -> None:
        self._store = store or price_store()
        self._ttl = ttl_seconds or settings.LTP_CACHE_TTL_SECONDS
        self._books_prefix = books_prefix
        self._books_ttl = books_ttl_seconds
        self._clock = clock
        self._pending: dict[str, dict] = {kind: {} for kind in KINDS}
        self._lock = threading.Lock()

    def _put(self, kind: str, values: Iterable[tuple[str, object]]) -> None:
        with self._lock:
            self._pending[kind].update(values)

    def put(self, key: str, price: float) -> None:
        self._put("prices", [(key, price)])

    def put_many(self, prices: Iterable[tuple[str, float]]) -> None:
        self._put("prices", prices)

    def put_prev_closes(self, prices: Mapping[str, float]) -> None:
        self._put("prev_closes", prices.items())

    def put_quotes(self, quotes: Mapping[str, dict]) -> None:
        """QUOTE records (`prices.quotes`) by key."""
        self._put("quotes", quotes.items())

    def put_books(self, books: Mapping[str, dict]) -> None:
        """BOOK records by key."""
        self._put("books", books.items())

    def put_candles(self, candles: Mapping[str, dict]) -> None:
        """CANDLE records (`history.live`) by key."""
        self._put("candles", candles.items())

    def flush(self) -> int:
        """Write what is pending; returns how many prices were written."""
        with self._lock:
            pending, self._pending = self._pending, {kind: {} for kind in KINDS}
        if not any(pending.values()):
            return 0
        announced = {"type": "ltp_batch", "ts": self._clock(), "prices": pending["prices"]}
        if pending["quotes"]:  # quote and full mode: the broadcaster sends them on
            announced["quotes"] = pending["quotes"]
        if pending["books"]:
            announced["depth"] = pending["books"]
        if pending["candles"]:
            announced["candles"] = pending["candles"]
        message = json.dumps(announced, separators=(",", ":"))
        try:
            batch = Batch(
                message=message,
                prices=pending["prices"],
                prev_closes=pending["prev_closes"],
                quotes=pending["quotes"],
                books=pending["books"],
                books_prefix=self._books_prefix,
                books_ttl_seconds=self._books_ttl,
                candles=pending["candles"],
            )
            self._store.write(batch, ttl_seconds=self._ttl)
        except redis.RedisError:
            with self._lock:  # keep what we could not write, newer values win
                for kind, values in pending.items():
                    self._pending[kind] = {**values, **self._pending[kind]}
            raise
        return len(pending["prices"])

    def heartbeat(self) -> None:
        self._store.heartbeat(now=datetime.fromtimestamp(self._clock(), tz=UTC))
