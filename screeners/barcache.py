"""The bar arrays a run evaluates: the universe's closed bars from the store and, for runs
on the forming bar, each instrument's live candle from the price cache laid on top.

Closed daily bars do not change during a session, so a worker keeps them (`ClosedBars`,
one per worker, on its Celery app: `screeners.tasks.kept_bars`) for the screens it re-runs
every few minutes: per universe and timeframe at the widest length asked for, shorter
lengths being slices of it. The forming overlay is kept a few seconds, so the screens due
in one beat minute share one read of the candles; a segment universe's members are kept
as long as the closed bars. Intraday timeframes are read afresh each run."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

import redis

from history import arrays as bar_arrays
from history import live
from history.arrays import PRICE_FIELDS, BarArrays
from history.timeframes import DAY, TIMEFRAMES, ist_day

logger = logging.getLogger(__name__)

KEPT_SECONDS = 15 * 60  # a backfill during the day shows within this
FORMING_REUSE_SECONDS = 5.0  # the screens due in one beat minute share one candle read
KEPT_UNIVERSES = 8


def sliced(arrays: BarArrays, length: int) -> BarArrays:
    """The latest `length` bars of wider right-aligned arrays (views, not copies)."""
    if arrays.close.shape[1] == length:
        return arrays
    return replace(arrays, **{f: getattr(arrays, f)[:, -length:] for f in PRICE_FIELDS})


class ClosedBars:
    """What a worker keeps between its screen runs: closed daily-based arrays (within one
    IST day, KEPT_SECONDS at most), the forming overlay (FORMING_REUSE_SECONDS) and segment
    universes' members. Thread-safe: a worker may run tasks on threads."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._closed: OrderedDict[tuple, tuple[float, object, BarArrays]] = OrderedDict()
        self._formed: dict[tuple, tuple[float, BarArrays]] = {}
        self._members: dict[str, tuple[float, list]] = {}

    def members(self, universe: str, load: Callable[[], list]) -> list:
        """A universe's instruments, `load`ed at most once per KEPT_SECONDS."""
        now = self._clock()
        with self._lock:
            kept = self._members.get(universe)
        if kept and now - kept[0] < KEPT_SECONDS:
            return kept[1]
        found = load()
        with self._lock:
            self._members[universe] = (now, found)
        return found

    def closed(self, keys: tuple[str, ...], tf: str, length: int) -> BarArrays:
        now = self._clock()
        if TIMEFRAMES[tf][0] != DAY:
            return bar_arrays.closed(list(keys), tf, length, now=now)
        with self._lock:
            kept = self._closed.get((keys, tf))
        fresh = kept and now - kept[0] < KEPT_SECONDS and kept[1] == ist_day(int(now))
        if fresh and kept[2].close.shape[1] >= length:
            return sliced(kept[2], length)
        arrays = bar_arrays.closed(list(keys), tf, length, now=now)
        with self._lock:
            self._closed[(keys, tf)] = (now, ist_day(int(now)), arrays)
            self._closed.move_to_end((keys, tf))
            while len(self._closed) > KEPT_UNIVERSES:
                self._closed.popitem(last=False)
        return arrays

    def formed(self, keys: tuple[str, ...], tf: str, length: int) -> BarArrays | None:
        """The overlay made in the last FORMING_REUSE_SECONDS, if it is wide enough."""
        with self._lock:
            kept = self._formed.get((keys, tf))
        fresh = kept and self._clock() - kept[0] < FORMING_REUSE_SECONDS
        return sliced(kept[1], length) if fresh and kept[1].close.shape[1] >= length else None

    def keep_formed(self, keys: tuple[str, ...], tf: str, arrays: BarArrays) -> None:
        with self._lock:
            self._formed = {k: v for k, v in self._formed.items() if k[1] == tf}
            self._formed[(keys, tf)] = (self._clock(), arrays)


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
    if forming and kept is not None and (formed := kept.formed(keys, tf, length)) is not None:
        return formed, True
    closed = (
        kept.closed(keys, tf, length)
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
    formed = bar_arrays.with_forming(closed, bars)
    if kept is not None:
        kept.keep_formed(keys, tf, formed)
    return formed, True
