"""The bar arrays a run evaluates: the universe's closed bars from the store and, for runs
on the forming bar, each instrument's live candle from the price cache. Closed daily bars do
not change during a session, so a worker keeps them (`ClosedBars`, one per process, owned
by `screeners.tasks`) for the screens it re-runs every few minutes: each re-run then reads
only the candles. Intraday timeframes are read afresh each run."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

import redis

from history import arrays as bar_arrays
from history import live
from history.arrays import BarArrays
from history.timeframes import DAY, TIMEFRAMES, ist_day

logger = logging.getLogger(__name__)

KEPT_SECONDS = 15 * 60  # a backfill during the day shows within this
KEPT_UNIVERSES = 8


class ClosedBars:
    """Closed bar arrays by (keys, timeframe, length), kept for KEPT_SECONDS within one IST
    day, daily-based timeframes only. Thread-safe: a worker may run tasks on threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple, tuple[float, object, BarArrays]] = OrderedDict()

    def get(self, keys: tuple[str, ...], tf: str, length: int, *, now: float) -> BarArrays:
        daily = TIMEFRAMES[tf][0] == DAY
        wanted = (keys, tf, length)
        with self._lock:
            kept = self._kept.get(wanted) if daily else None
        if kept and now - kept[0] < KEPT_SECONDS and kept[1] == ist_day(int(now)):
            return kept[2]
        arrays = bar_arrays.closed(list(keys), tf, length, now=now)
        if daily:
            with self._lock:
                self._kept[wanted] = (now, ist_day(int(now)), arrays)
                self._kept.move_to_end(wanted)
                while len(self._kept) > KEPT_UNIVERSES:
                    self._kept.popitem(last=False)
        return arrays

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


def load(
    keys: tuple[str, ...],
    tf: str,
    length: int,
    *,
    forming: bool,
    kept: ClosedBars | None = None,
    now: float | None = None,
) -> tuple[BarArrays, bool]:
    """The arrays to evaluate and whether the forming bars are in them (False when the
    price cache cannot be read: the run goes on over closed bars, and says so)."""
    now = time.time() if now is None else now
    closed = (
        kept.get(keys, tf, length, now=now)
        if kept
        else bar_arrays.closed(list(keys), tf, length, now=now)
    )
    if not forming:
        return closed, False
    try:
        records = live.read_records(list(keys))
    except redis.RedisError as exc:
        logger.warning("screen run without forming bars: %s", exc)
        return closed, False
    bars = {}
    for key, record in records.items():
        bar = live.forming(record, tf)
        if bar is not None:
            bars[key] = bar
    return bar_arrays.with_forming(closed, bars), True
