"""Bars as the simulator's history serves them: one OHLCV bar, intraday aggregation anchored
at 09:15 IST, and DhanHQ's column-array answer. Used by `minutes`, `sessions` and `charts`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from dhan.clock import IST_OFFSET_SECONDS, SECONDS_PER_DAY

SECONDS_PER_MINUTE = 60
SESSION_OPEN_SECONDS = (9 * 60 + 15) * SECONDS_PER_MINUTE  # 09:15 IST, after midnight
SESSION_MINUTES = 375  # 09:15 to 15:29 IST, one bar a minute


class Bar(NamedTuple):
    """One bar: `start` in Unix seconds (a minute's start, or 00:00 IST of a daily bar's
    day), prices in rupees on the instrument's tick grid, the bar's own traded quantity,
    and the open interest at its close (0 where there is none)."""

    start: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    oi: int = 0


def bucket_start(start: int, interval_minutes: int) -> int:
    """The start of the `interval_minutes` bar holding the minute at `start`: buckets are
    anchored at 09:15 IST (so 60 minutes gives 09:15, 10:15, ... 15:15) and never begin
    before their day's 00:00 IST (minutes streamed round the clock stay in their day)."""
    ist = start + IST_OFFSET_SECONDS
    midnight = ist - ist % SECONDS_PER_DAY
    anchor = midnight + SESSION_OPEN_SECONDS
    width = interval_minutes * SECONDS_PER_MINUTE
    return max(midnight, anchor + (ist - anchor) // width * width) - IST_OFFSET_SECONDS


def aggregate(minutes: Iterable[Bar], interval_minutes: int) -> list[Bar]:
    """`minutes` (oldest first) as `interval_minutes` bars: first open, highest high,
    lowest low, last close, summed volume, last open interest."""
    if interval_minutes == 1:
        return list(minutes)
    out: list[Bar] = []
    for bar in minutes:
        start = bucket_start(bar.start, interval_minutes)
        if out and out[-1].start == start:
            last = out[-1]
            out[-1] = Bar(
                start,
                last.open,
                max(last.high, bar.high),
                min(last.low, bar.low),
                bar.close,
                last.volume + bar.volume,
                bar.oi,
            )
        else:
            out.append(bar._replace(start=start))
    return out


def columns(bars: list[Bar], *, oi: bool) -> dict[str, list]:
    """DhanHQ's history answer: arrays aligned by index, `open_interest` only when asked."""
    answer: dict[str, list] = {
        "open": [b.open for b in bars],
        "high": [b.high for b in bars],
        "low": [b.low for b in bars],
        "close": [b.close for b in bars],
        "volume": [b.volume for b in bars],
        "timestamp": [b.start for b in bars],
    }
    if oi:
        answer["open_interest"] = [b.oi for b in bars]
    return answer
