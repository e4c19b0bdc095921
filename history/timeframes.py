"""Timeframes and their anchors: which bar a moment falls in, and resampling stored bars
into wider ones. Intraday bars are anchored at 09:15 IST (a `1h` bar starts 09:15,
10:15, ... and the day's last one is 15:15-15:30); `1d` starts at 00:00 IST of its session
day, `1w` on the session's Monday, `1mo` on the 1st. Every time here is Unix seconds.

Only `1m` and `1d` are stored (`history.models.Bar`); the rest are resampled on read
(`history.store`) and folded live (`history.live`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta

from dhan import bars
from dhan.clock import SECONDS_PER_DAY as DAY_SECONDS
from dhan.clock import ist_day, ist_midnight

SESSION_ANCHOR_SECONDS = (9 * 60 + 15) * 60  # 09:15 IST, after the IST midnight
MINUTE = "1m"
DAY = "1d"
STORED = (MINUTE, DAY)
# Timeframe -> (the stored timeframe it is made of, its width in seconds; 0 for calendar).
TIMEFRAMES: dict[str, tuple[str, int]] = {
    "1m": (MINUTE, 60),
    "5m": (MINUTE, 300),
    "15m": (MINUTE, 900),
    "30m": (MINUTE, 1800),
    "1h": (MINUTE, 3600),
    "1d": (DAY, DAY_SECONDS),
    "1w": (DAY, 7 * DAY_SECONDS),
    "1mo": (DAY, 0),
}
INTRADAY = frozenset(tf for tf, (base, _) in TIMEFRAMES.items() if base == MINUTE)
# How many base bars one bar of the timeframe holds at most (to bound a read).
BASE_BARS_PER_BAR = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "1d": 1, "1w": 7, "1mo": 31}


class Bar(bars.Bar):
    """One bar (`dhan.bars.Bar`: start in Unix seconds, exact prices, the bar's own traded
    quantity, open interest for derivatives), with the contract's JSON shape."""

    __slots__ = ()

    def as_json(self) -> dict:
        t, o, h, l, c, v, oi = self  # noqa: E741 - unpacked once: 5,000 a request
        out = {"t": t, "o": o, "h": h, "l": l, "c": c, "v": v}
        if oi is not None:
            out["oi"] = oi
        return out


class TimeframeError(ValueError):
    """A timeframe we do not know; the message lists those we do."""


def check_timeframe(tf: str) -> str:
    if tf not in TIMEFRAMES:
        raise TimeframeError(f"unknown timeframe {tf!r}: use {', '.join(TIMEFRAMES)}")
    return tf


day_start = ist_midnight  # a `1d` bar's `t`: 00:00 IST of its day
__all__ = ["Bar", "bucket_start", "day_start", "ist_day", "merge"]


def bucket_start(t: int, tf: str) -> int:
    """The start of the `tf` bar that Unix second `t` falls in."""
    base, width = TIMEFRAMES[tf]
    if base == MINUTE:
        midnight = day_start(ist_day(t))
        since_anchor = t - midnight - SESSION_ANCHOR_SECONDS
        return midnight + SESSION_ANCHOR_SECONDS + since_anchor // width * width
    day = ist_day(t)
    if tf == "1w":
        day -= timedelta(days=day.weekday())
    elif tf == "1mo":
        day = day.replace(day=1)
    return day_start(day)


def merge(bars: Iterable[Bar], tf: str) -> Iterator[Bar]:
    """Bars (oldest first) resampled into `tf` bars: first open, highest high, lowest low,
    last close, summed volume, last open interest."""
    current: list | None = None
    for bar in bars:
        start = bucket_start(bar.t, tf)
        if current is not None and current[0] == start:
            current[2] = max(current[2], bar.h)
            current[3] = min(current[3], bar.l)
            current[4], current[6] = bar.c, bar.oi if bar.oi is not None else current[6]
            current[5] += bar.v
            continue
        if current is not None:
            yield Bar(*current)
        current = [start, bar.o, bar.h, bar.l, bar.c, bar.v, bar.oi]
    if current is not None:
        yield Bar(*current)
