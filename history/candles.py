"""A market-feed stream's live candles, in the feed worker: the 1-minute builder
(`dhan.candles`) sees every Quote/Full frame beside the scanner; each collect seals the
minutes that are due, writes them to the bar store (on a thread of its own), and hands
the price sink one CANDLE record per changed key (`history.live`: the forming bar of every
timeframe, and what a restarted worker needs to go on). Made and driven by
`streams.marketfeed.MarketFeedKind`.

Forming bars wider than a minute are folds: the sealed minutes of the bar's bucket so far
plus the forming minute; the day's bar is the feed's own day OHLC and cumulative volume
when quote packets carry them, and weeks and months add the day to the earlier days of
the week or month from the store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

import redis
from django.db import DatabaseError, close_old_connections, connections

from dhan.candles import CandleBuilder
from dhan.decoder import Decoder
from dhan.packets import DecodeError, Full, Quote
from history import live, store
from history.timeframes import DAY, MINUTE, Bar, bucket_start, day_start, ist_day, merge
from prices.sink import PriceSink

logger = logging.getLogger(__name__)

FOLDED = ("5m", "15m", "30m", "1h", "1d")  # from the sealed minutes
CALENDAR = ("1w", "1mo")  # from the day and the store's earlier days
MAX_PENDING_WRITES = 100_000  # closed minutes kept while the store is unreachable
CLOSE_SEAL_AHEAD_SECONDS = 3600.0  # at a stop, seal as if this much later: everything


def combine(first: Bar | None, then: Bar, tf: str) -> Bar:
    """`then` added to the `tf` bar `first` when it is of the same bucket; else a new one."""
    start = bucket_start(then.t, tf)
    if first is None or first.t != start:
        return then._replace(t=start)
    return next(merge([first, then._replace(t=start)], tf))


class LiveCandles:
    def __init__(
        self,
        keys: list[str],
        decoder: Decoder,
        *,
        sink: PriceSink,
        round_the_clock: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.builder = CandleBuilder(decoder, clock=clock, round_the_clock=round_the_clock)
        self._sink = sink
        self._clock = clock
        self._folds: dict[str, dict[str, Bar]] = {}  # key -> tf -> its bucket's sealed part
        self._prior: dict[str, dict[str, Bar]] = {}  # key -> 1w/1mo -> days before today
        self._days: dict[str, Bar] = {}  # key -> today's bar from the feed's day OHLC
        self._pending: list[tuple[str, Bar]] = []  # closed minutes not yet stored
        self._pending_lock = threading.Lock()  # the writer thread puts back what failed
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="candle-store")
        self._writing: Future | None = None
        self.loaded = False

    # --- on the writer thread, before the first subscribe --------------------------------

    def start_loading(self) -> Future:
        """`load` on the candles' own thread (the one that writes to the store, ended with
        the stream): the feed's loop awaits it before its first subscribe."""
        return self._writer.submit(self.load)

    def load(self) -> None:
        """Go on where the last worker stopped: each key's builder state from its CANDLE
        record, today's sealed minutes and the week's and month's earlier days from the
        store. Called once (`MarketFeedKind.open`, off the loop); an outage leaves the
        candles to start afresh."""
        today = ist_day(self._clock())
        try:
            records = live.read_records(self.keys)
        except redis.RedisError as exc:
            logger.warning("candles start afresh: the cache is unreachable (%s)", exc)
            records = {}
        seeded = {key: self._seed(key, record) for key, record in records.items()}
        try:
            close_old_connections()
            minutes = store.since(self.keys, MINUTE, day_start(today))
            earliest = min(today.replace(day=1), today - timedelta(days=today.weekday()))
            days = store.since(self.keys, DAY, day_start(earliest))
        except DatabaseError as exc:
            logger.warning("candles start without history: the bar store failed (%s)", exc)
            minutes, days = {}, {}
        for key, bars in minutes.items():
            forming_from = seeded.get(key) or float("inf")
            for bar in bars:
                if bar.t < forming_from:  # the seeded minute folds in when it seals
                    self._fold(key, bar)
        for key, bars in days.items():
            self._prior[key] = {tf: self._before(bars, today, tf) for tf in CALENDAR}
        self.loaded = True

    def _seed(self, key: str, record: dict) -> int | None:
        """The builder goes on with `key` from its CANDLE record; returns the start of
        the forming minute it took over, if any."""
        try:
            cum, ltt, day = int(record["cv"]), int(record["ltt"]), int(record["day"])
        except (KeyError, TypeError, ValueError):
            return None
        bar = live.forming(record, MINUTE)
        oi = record.get("oi") if isinstance(record.get("oi"), int) else None
        try:
            self.builder.seed(
                key, bar=bar, cumulative_volume=cum, last_ltt=ltt, last_day=day, oi=oi
            )
        except ValueError as exc:
            logger.warning("candle state of %s not restored: %s", key, exc)
            return None
        return bar.t if bar is not None else None

    @staticmethod
    def _before(bars: list[Bar], today, tf: str) -> Bar | None:
        start = bucket_start(day_start(today), tf)
        earlier = [b for b in bars if start <= b.t < day_start(today)]
        return next(merge(earlier, tf), None)

    # --- on the feed's loop ------------------------------------------------------------

    def take(self, frame: bytes) -> None:
        """Every binary frame the scanner took (so it is well formed)."""
        try:
            self.builder.scan(frame)
        except DecodeError:
            pass  # the scanner counted it

    def put_days(self, packets: dict[str, Quote | Full]) -> None:
        """The feed's day OHLC and cumulative volume: today's forming `1d` bar."""
        start = day_start(ist_day(self._clock()))
        for key, p in packets.items():
            if p.open > 0 and p.high > 0 and p.low > 0:
                self._days[key] = Bar(start, p.open, p.high, p.low, p.ltp, p.volume)

    def collect(self) -> bool:
        """Seal what is due, store it, and put the changed keys' CANDLE records."""
        closed = self._seal()
        forming = self.builder.drain_forming()
        changed = set(forming).union(c.key for c in closed)
        if not changed:
            return False
        self._sink.put_candles({k: self._record(k, forming.get(k)) for k in changed})
        return True

    def _seal(self, now: float | None = None) -> list:
        closed = self.builder.seal(now)
        for c in closed:
            self._fold(c.key, Bar(*c.bar))
        with self._pending_lock:
            self._pending.extend((c.key, Bar(*c.bar)) for c in closed)
            del self._pending[:-MAX_PENDING_WRITES]
        self._store_pending()
        return closed

    def _fold(self, key: str, bar: Bar) -> None:
        folds = self._folds.setdefault(key, {})
        for tf in FOLDED:
            folds[tf] = combine(folds.get(tf), bar, tf)

    def _record(self, key: str, minute: object) -> dict:
        m1 = Bar(*minute) if minute is not None else None  # type: ignore[misc]
        folds = self._folds.get(key, {})
        forming: dict[str, Bar | None] = {MINUTE: m1}
        for tf in FOLDED:
            part = folds.get(tf)
            forming[tf] = combine(part, m1, tf) if m1 is not None else part
        day = self._days.get(key) or forming[DAY]
        if day is not None:
            forming[DAY] = day
            for tf in CALENDAR:
                forming[tf] = combine(self._prior.get(key, {}).get(tf), day, tf)
        record: dict = {"forming": {tf: b.as_json() for tf, b in forming.items() if b}}
        state = self.builder.state(key)
        if state is not None:
            record.update(cv=state.cumulative_volume, ltt=state.last_ltt, day=state.last_day)
            if state.oi is not None:
                record["oi"] = state.oi
        return record

    def _store_pending(self) -> None:
        if self._writing is not None and not self._writing.done():
            return
        with self._pending_lock:
            batch, self._pending = self._pending, []
        if batch:
            self._writing = self._writer.submit(self._write, batch)

    def _write(self, batch: list[tuple[str, Bar]]) -> None:
        """On the writer thread: the closed minutes upserted; kept for the next collect
        when the store fails."""
        try:
            close_old_connections()
            store.upsert_many(MINUTE, batch)
        except DatabaseError as exc:
            logger.warning("%d closed minutes wait for the bar store (%s)", len(batch), exc)
            with self._pending_lock:
                self._pending[:0] = batch

    def close(self) -> None:
        """The stream stops (the close, a stop, a handover): every bar is sealed and
        written, the forming minute too — a worker that goes on with this stream seeds it
        from the CANDLE record and overwrites it when it seals (upserts)."""
        self._seal(now=self._clock() + CLOSE_SEAL_AHEAD_SECONDS)
        self._writer.submit(connections.close_all)  # the thread's own database connection
        self._writer.shutdown(wait=True)
        self._store_pending_now()

    def _store_pending_now(self) -> None:
        with self._pending_lock:
            batch, self._pending = self._pending, []
        if batch:
            self._write(batch)
