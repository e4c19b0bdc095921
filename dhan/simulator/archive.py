"""The simulator's price archive, what its chart API (`charts.ChartServer`) answers: daily
bars of past trading days from `history` and today's from the live book; minutes of past
trading days from `sessions` and today's from what the feed streamed (`minutes`). So the
history and the feed tell one story: the last close before today is the feed's previous
close, and today is what was streamed."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta

from dhan.clock import ist_day, ist_midnight
from dhan.segments import InstrumentKey
from dhan.simulator.bars import Bar, aggregate
from dhan.simulator.book import PriceBook
from dhan.simulator.history import DERIVATIVE_SEGMENTS, DailyCurve, DayBar, trading_days
from dhan.simulator.minutes import MinuteRecorder
from dhan.simulator.sessions import session_minutes
from dhan.ticks import TickGrid

INTRADAY_HISTORY_DAYS = 5 * 365  # DhanHQ keeps minutes for the last five years
FEED_OI_PER_VOLUME = 10  # the feed's open interest of a derivative: the day's volume x 10


class PriceArchive:
    """Bars of any instrument, deterministic for past days and live for today (the IST
    day of `clock()`); today is served whatever its weekday, as the feed streams round
    the clock."""

    def __init__(
        self,
        prices: PriceBook,
        recorder: MinuteRecorder,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.prices = prices
        self.recorder = recorder
        self._clock = clock

    def daily(self, key: InstrumentKey, *, start: date, end: date) -> list[Bar]:
        """Daily bars from `start` up to, not including, `end` (DhanHQ's `toDate`), each
        stamped 00:00 IST of its day; today's is the book's open, high, low, last price
        and volume."""
        today = ist_day(self._clock())
        grid, prev_close = self.prices.history_anchor(key)
        curve = DailyCurve(key, prev_close_ticks=prev_close, today=today)
        bars = [_priced(b, grid) for b in curve.bars(start, min(end, today))]
        if start <= today < end:
            bars.append(self._today(key, today))
        return bars

    def _today(self, key: InstrumentKey, today: date) -> Bar:
        s = self.prices.snapshot(key)
        volume = int(s["volume"])
        oi = volume * FEED_OI_PER_VOLUME if key.segment in DERIVATIVE_SEGMENTS else 0
        return Bar(ist_midnight(today), s["open"], s["high"], s["low"], s["ltp"], volume, oi)

    def intraday(
        self, key: InstrumentKey, *, start: int, end: int, interval_minutes: int
    ) -> list[Bar]:
        """`interval_minutes` bars (anchored at 09:15 IST) starting from Unix second
        `start` up to, not including, `end`: 375 minutes a past trading day (the last five
        years, not before the listing), today's completed streamed minutes."""
        now = self._clock()
        today = ist_day(now)
        grid, prev_close = self.prices.history_anchor(key)
        curve = DailyCurve(key, prev_close_ticks=prev_close, today=today)
        oldest = max(
            ist_day(start), curve.profile.listing, today - timedelta(days=INTRADAY_HISTORY_DAYS)
        )
        last = ist_day(end - 1)
        bars: list[Bar] = []
        prev: DayBar | None = None
        for day in trading_days(oldest, min(last + timedelta(days=1), today)):
            prev = curve.bar(day, prev_close=prev.close if prev else None)
            bars += aggregate(session_minutes(key, prev, grid), interval_minutes)
        if oldest <= today <= last:
            bars += aggregate(self.recorder.bars(key, now=now), interval_minutes)
        return [b for b in bars if start <= b.start < end]


def _priced(bar: DayBar, grid: TickGrid) -> Bar:
    """A past day's bar in rupees (as the book prices ticks), stamped 00:00 IST."""
    units, scale = grid.units, grid.scale
    return Bar(
        ist_midnight(bar.day),
        bar.open * units / scale,
        bar.high * units / scale,
        bar.low * units / scale,
        bar.close * units / scale,
        bar.volume,
        bar.oi,
    )
