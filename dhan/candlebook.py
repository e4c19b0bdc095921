"""The live candle builder's book (`dhan.candles.CandleBuilder` is one): each key's state,
the bars of the minutes not yet sealed, sealing by the clock, and the bars given out and
taken back (`forming`, `drain_forming`, `state`, `seed`) for the feed worker.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Final, NamedTuple

from dhan.bars import Bar
from dhan.clock import IST_OFFSET_SECONDS, SECONDS_PER_DAY
from dhan.decoder import Decoder
from dhan.segments import SEGMENT_NAMES, InstrumentKey

# The feed's LTT counts IST wall-clock seconds: Unix time = LTT - IST_OFFSET_SECONDS.
SEAL_DELAY_SECONDS: Final = 1.0  # a minute seals this long after it ends (contract: <= 2 s)
LAST_MINUTE_SEAL_SECONDS: Final = 5.0  # the session's last minute (15:29) seals at 15:30:05
SKEW_LIMIT_SECONDS: Final = 600  # an LTT further than this from the clock: arrival time
SESSION_FIRST_MINUTE: Final = 9 * 60 + 15  # minutes since 00:00 IST: 09:15 ...
SESSION_LAST_MINUTE: Final = 15 * 60 + 29  # ... to the minute starting 15:29
MINUTES_PER_DAY: Final = 1440
DERIVATIVE_SEGMENTS: Final = frozenset({2, 3, 5, 7, 8})  # the segments whose bars carry OI

_KEY_BYTES: Final = struct.Struct("<BI")  # bytes 3-7 of a packet: segment, security id

# One key's state, a list indexed by these (no object per packet on the hot path):
# last LTT and cumulative volume taken (-1: none yet), the IST day of that trade, the
# minute whose bar the hot path may update (-1: none) and that bar, ticks per rupee, the
# latest OI (None: none or not a derivative), whether a derivative, "SEG:SID", the grid.
_LTT, _CUM, _DAY, _FAST, _BAR, _K, _OI, _DERIV, _NAME, _UNITS, _SCALE = range(11)
# A bar: open, high, low, close as ticks of the key's grid (integral floats), volume, OI.
_O, _H, _L, _C, _V, _BAR_OI = range(6)


class ClosedBar(NamedTuple):
    key: str  # "SEG:SID"
    bar: Bar


class KeyState(NamedTuple):
    """What `CandleBook.seed` needs to go on with a key where another builder stopped."""

    bar: Bar | None  # the key's latest bar not yet sealed
    cumulative_volume: int | None  # of the last trade taken (None: none yet)
    last_ltt: int | None  # as sent
    last_day: int | None  # the IST day of that trade (its LTT's, unless it was skewed)
    oi: int | None  # the latest open interest (derivatives)


class CandleBook:
    """Keys' states and unsealed bars; `CandleBuilder` adds the packets.

    `decoder` gives each instrument's tick grid; `clock` is Unix time (injected in tests);
    `round_the_clock` (DEV_MODE) builds bars outside the session too. The counts of
    packets taken otherwise than by their LTT, or not at all, are attributes: `non_finite`,
    `skewed`, `stale`, `late` (see `CandleBuilder`).
    """

    def __init__(
        self,
        decoder: Decoder,
        *,
        clock: Callable[[], float] = time.time,
        round_the_clock: bool = False,
    ) -> None:
        self._decoder = decoder
        self._clock = clock
        self._round_the_clock = round_the_clock
        self._keys: dict[bytes, list] = {}  # segment + security id bytes -> state
        self._open: dict[int, dict[bytes, list]] = {}  # IST minute -> key -> bar
        self._changed: dict[bytes, None] = {}  # keys whose bars changed since drained
        # Minutes before this one (IST minutes since 1970) are sealed: at first, those that
        # were due when the builder was made, so a restart writes no bar over a stored one.
        self._watermark = self._first_unsealed(clock())
        self.non_finite = 0
        self.skewed = 0
        self.stale = 0
        self.late = 0

    def _state(self, key: bytes) -> list:
        st = self._keys.get(key)
        if st is None:
            seg, sid = _KEY_BYTES.unpack(key)
            grid = self._decoder.grid(seg, sid)
            name = f"{SEGMENT_NAMES.get(seg, seg)}:{sid}"
            deriv = seg in DERIVATIVE_SEGMENTS
            st = [-1, -1, -1, -1, None, grid.scale / grid.units, None, deriv, name]
            self._keys[key] = st = [*st, grid.units, grid.scale]
        return st

    def _in_session(self, minute: int) -> bool:
        if self._round_the_clock:
            return True
        return SESSION_FIRST_MINUTE <= minute % MINUTES_PER_DAY <= SESSION_LAST_MINUTE

    def _first_unsealed(self, now: float) -> int:
        """The first IST minute not due to seal at Unix time `now`."""
        now_ist = now + IST_OFFSET_SECONDS
        first = int((now_ist - SEAL_DELAY_SECONDS) // 60)
        last_of_session = (first - 1) % MINUTES_PER_DAY == SESSION_LAST_MINUTE
        if last_of_session and not self._round_the_clock:
            return first - 1 if now_ist < first * 60 + LAST_MINUTE_SEAL_SECONDS else first
        return first

    def _bar_out(self, minute: int, st: list, bar: list) -> Bar:
        units, scale = st[_UNITS], st[_SCALE]
        return Bar(
            minute * 60 - IST_OFFSET_SECONDS,
            int(bar[_O]) * units / scale,  # integers but the last division: 2845.05 exactly
            int(bar[_H]) * units / scale,
            int(bar[_L]) * units / scale,
            int(bar[_C]) * units / scale,
            bar[_V],
            bar[_BAR_OI],
        )

    def seal(self, now: float | None = None) -> list[ClosedBar]:
        """Close every bar whose minute is due at `now` (Unix seconds; the clock's if None):
        ended at least SEAL_DELAY_SECONDS ago, or for 15:29 IST in a session, 15:30:05.
        Called by the feed thread every 0.25-0.5 s; returns them by minute, then key."""
        self._watermark = max(
            self._watermark, self._first_unsealed(self._clock() if now is None else now)
        )
        closed: list[ClosedBar] = []
        for minute in sorted(m for m in self._open if m < self._watermark):
            bars = self._open.pop(minute)
            out = []
            for key, bar in bars.items():
                st = self._keys[key]
                if st[_FAST] == minute:
                    st[_FAST], st[_BAR] = -1, None  # the hot path must not touch it again
                out.append(ClosedBar(st[_NAME], self._bar_out(minute, st, bar)))
            closed.extend(sorted(out))
        return closed

    def _latest(self, key: bytes, minutes: list[int]) -> Bar | None:
        """`key`'s bar of the latest of `minutes` (the open ones, latest first) it has."""
        for minute in minutes:
            bar = self._open[minute].get(key)
            if bar is not None:
                return self._bar_out(minute, self._keys[key], bar)
        return None

    def forming(self) -> dict[str, Bar]:
        """Each key's latest bar not yet sealed (the feed worker, for a snapshot)."""
        latest: dict[str, Bar] = {}
        for minute in sorted(self._open):  # later minutes replace earlier ones
            for key, bar in self._open[minute].items():
                st = self._keys[key]
                latest[st[_NAME]] = self._bar_out(minute, st, bar)
        return latest

    def drain_forming(self) -> dict[str, Bar]:
        """The latest unsealed bar of each key whose bars changed since the last drain
        (the feed thread, at each flush, to publish `candle_update` and keep Redis)."""
        changed, self._changed = self._changed, {}
        minutes = sorted(self._open, reverse=True)
        out = {}
        for key in changed:
            bar = self._latest(key, minutes)
            if bar is not None:  # (None: sealed since it changed, and given out by `seal`)
                out[self._keys[key][_NAME]] = bar
        return out

    def state(self, key: str) -> KeyState | None:
        """What `seed` needs to go on with `key` in a new builder (None: nothing seen).
        The feed worker keeps it in Redis with the forming bar."""
        kb = _key_bytes(key)
        st = self._keys.get(kb)
        if st is None or (st[_CUM] < 0 and st[_OI] is None):
            return None
        bar = self._latest(kb, sorted(self._open, reverse=True))
        if st[_CUM] < 0:
            return KeyState(bar, None, None, None, st[_OI])
        return KeyState(bar, st[_CUM], st[_LTT], st[_DAY], st[_OI])

    def seed(
        self,
        key: str,
        *,
        bar: Bar | None,
        cumulative_volume: int | None,
        last_ltt: int | None,
        last_day: int | None = None,
        oi: int | None = None,
    ) -> None:
        """Go on with `key` where another builder stopped (the feed worker, as it starts,
        from what it kept of `state(key)` in Redis): its last trade, so that trade re-sent
        is no new one and the volume counts on from it; its forming bar (sealed at the next
        `seal` if its minute is already due); its OI (default: the bar's). `last_day`
        defaults to the IST day of `last_ltt`."""
        if bar is not None and bar.t % 60:
            raise ValueError(f"a bar starts on a minute, got t={bar.t}")
        kb = _key_bytes(key)
        st = self._state(kb)
        if cumulative_volume is None or last_ltt is None:
            last_ltt, cumulative_volume, last_day = -1, -1, -1  # no trade: no baseline yet
        day = last_ltt // SECONDS_PER_DAY if last_day is None else last_day
        st[_LTT], st[_CUM], st[_DAY] = last_ltt, cumulative_volume, day
        st[_FAST], st[_BAR] = -1, None
        if st[_DERIV]:
            st[_OI] = bar.oi if oi is None and bar is not None else oi
        if bar is None:
            return
        k = st[_K]
        ticks = [float(round(p * k)) for p in (bar.o, bar.h, bar.l, bar.c)]
        minute = (bar.t + IST_OFFSET_SECONDS) // 60
        self._open.setdefault(minute, {})[kb] = [*ticks, bar.v, bar.oi]


def _key_bytes(key: str) -> bytes:
    parsed = InstrumentKey.parse(key)
    return _KEY_BYTES.pack(parsed.segment, parsed.security_id)
