"""What the simulator's feed streamed today, as 1-minute bars per instrument: the feed's tick
loop records every step (`FeedServer.tick_loop`), the chart API (`charts.ChartServer`) and
tests read the bars. Today only (the IST day of the latest step): a new day drops the old
minutes, so memory stays bounded by one day of the instruments that stream."""

from __future__ import annotations

import bisect
import threading
from array import array
from dataclasses import dataclass, field

from dhan.clock import IST_OFFSET_SECONDS, SECONDS_PER_DAY
from dhan.segments import InstrumentKey
from dhan.simulator.bars import SECONDS_PER_MINUTE, Bar

# A minute counts as complete this long after its end even if no later step was recorded
# (a step that read the clock just before the minute's end may still be on its way).
MINUTE_SEAL_GRACE_SECONDS = 1


@dataclass(slots=True)
class _Minutes:
    """One instrument's minutes of the day as columns (48 bytes a minute), oldest first."""

    starts: array = field(default_factory=lambda: array("q"))
    opens: array = field(default_factory=lambda: array("d"))
    highs: array = field(default_factory=lambda: array("d"))
    lows: array = field(default_factory=lambda: array("d"))
    closes: array = field(default_factory=lambda: array("d"))
    volumes: array = field(default_factory=lambda: array("q"))

    def add(self, minute: int, ltp: float, volume: int) -> None:
        """A step at `minute`: a new bar, or the bar of that minute updated."""
        if not self.starts or minute > self.starts[-1]:
            i = len(self.starts)
        else:  # the wall clock stepped back: find the minute's bar, or slot one in
            i = bisect.bisect_left(self.starts, minute)
        if i < len(self.starts) and self.starts[i] == minute:
            self.highs[i] = max(self.highs[i], ltp)
            self.lows[i] = min(self.lows[i], ltp)
            self.closes[i] = ltp
            self.volumes[i] += volume
            return
        for column, value in zip(
            (self.starts, self.opens, self.highs, self.lows, self.closes, self.volumes),
            (minute, ltp, ltp, ltp, ltp, volume),
            strict=True,
        ):
            column.insert(i, value)

    def bar(self, i: int, oi_per_volume: int, cumulative: int) -> Bar:
        return Bar(
            self.starts[i],
            self.opens[i],
            self.highs[i],
            self.lows[i],
            self.closes[i],
            self.volumes[i],
            oi_per_volume * cumulative,
        )


class MinuteRecorder:
    """Today's 1-minute bars of every stepped instrument: o/h/l/c from the stepped LTPs,
    volume the rise of the book's cumulative volume over the minute. Thread-safe (the
    feed's loop writes, REST threads read)."""

    def __init__(self, *, oi_per_volume: dict[int, int] | None = None) -> None:
        # segment -> open interest per unit of cumulative volume (the feed's OI for
        # derivatives is the day's volume times 10; other segments have none)
        self._oi_per_volume = oi_per_volume or {}
        self._lock = threading.Lock()
        self._day: int | None = None  # IST days since 1970 of the minutes held
        self._minutes: dict[InstrumentKey, _Minutes] = {}
        # the book's cumulative volume after each key's last recorded step (kept across
        # days: the book's count does not restart, a minute's volume is the rise)
        self._volume: dict[InstrumentKey, int] = {}

    def record(self, key: InstrumentKey, *, now: int, ltp: float, volume: int) -> None:
        """A step of `key` to `ltp`, the book's cumulative volume now `volume`, at Unix
        second `now` (the second whose IST reading the step's packets carry as LTT).
        Called by the feed's tick loop for every instrument it steps."""
        day = (now + IST_OFFSET_SECONDS) // SECONDS_PER_DAY
        with self._lock:
            if day != self._day:
                self._day = day
                self._minutes.clear()
            added = max(0, volume - self._volume.get(key, 0))
            self._volume[key] = volume
            minutes = self._minutes.get(key)
            if minutes is None:
                minutes = self._minutes[key] = _Minutes()
            minutes.add(now - now % SECONDS_PER_MINUTE, ltp, added)

    def bars(self, key: InstrumentKey, *, now: float, include_forming: bool = False) -> list[Bar]:
        """`key`'s minutes of the IST day of `now`, oldest first: the completed ones (a
        later minute recorded, or the minute over for `MINUTE_SEAL_GRACE_SECONDS`), or all
        with `include_forming`. The chart API calls this for today's intraday bars."""
        day = (int(now) + IST_OFFSET_SECONDS) // SECONDS_PER_DAY
        with self._lock:
            minutes = self._minutes.get(key)
            if minutes is None or day != self._day:
                return []
            count = len(minutes.starts)
            if not include_forming and count:
                last_end = minutes.starts[-1] + SECONDS_PER_MINUTE
                if now < last_end + MINUTE_SEAL_GRACE_SECONDS:
                    count -= 1
            return self._bars(key, minutes, count)

    def _bars(self, key: InstrumentKey, minutes: _Minutes, count: int) -> list[Bar]:
        oi_per_volume = self._oi_per_volume.get(key.segment, 0)
        # open interest at each minute's close, from the day's cumulative volume then
        cumulative = self._volume.get(key, 0) - sum(minutes.volumes)
        out = []
        for i in range(count):
            cumulative += minutes.volumes[i]
            out.append(minutes.bar(i, oi_per_volume, cumulative))
        return out

    def keys(self) -> list[InstrumentKey]:
        """Every instrument with minutes today."""
        with self._lock:
            return list(self._minutes)
