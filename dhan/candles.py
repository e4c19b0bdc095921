"""Live 1-minute candles from the market feed: `CandleBuilder` sees every frame the feed
receives (the feed thread calls it beside `LtpScanner`, in streams/marketfeed.py), buckets
each trade by its LTT, takes volume from cumulative differences and seals each minute by a
timer. Pure: the feed worker keeps the forming bars in Redis and stores the closed ones.
"""

from __future__ import annotations

import struct
from typing import Final

from dhan.bars import Bar
from dhan.candlebook import (
    _BAR,
    _CUM,
    _DAY,
    _DERIV,
    _FAST,
    _K,
    _LTT,
    _OI,
    SEAL_DELAY_SECONDS,
    SKEW_LIMIT_SECONDS,
    CandleBook,
    ClosedBar,
    KeyState,
)
from dhan.clock import IST_OFFSET_SECONDS, SECONDS_PER_DAY
from dhan.packets import DecodeError, frame_length, packet_at

__all__ = [
    "IST_OFFSET_SECONDS",
    "SEAL_DELAY_SECONDS",
    "Bar",
    "CandleBuilder",
    "ClosedBar",
    "DecodeError",
    "KeyState",
]

# The feed's trade fields, by byte offset: segment and security id (3-7), LTP float32 (8),
# LTT (14), the day's cumulative volume (22), and a full packet's OI (34).
_QUOTE_TRADE: Final = struct.Struct("<3x5sf2xI4xI")
_FULL_TRADE: Final = struct.Struct("<3x5sf2xI4xI8xI")
_OI_PACKET: Final = struct.Struct("<3x5sI")
_UNPACK_QUOTE: Final = _QUOTE_TRADE.unpack_from
_UNPACK_FULL: Final = _FULL_TRADE.unpack_from
# How frames of exactly one quote or full packet start (code, length): DhanHQ's usual frame.
_QUOTE_HEAD: Final = struct.pack("<BH", 4, 50)
_FULL_HEAD: Final = struct.pack("<BH", 8, 162)
# Rounds x * ticks-per-rupee to an integer as round() does (ties to even) for |x| <= 2**51:
# see dhan.decoder. Prices past the limit, NaN and infinity take the general path.
_MAGIC: Final = 6755399441055744.0
_LIMIT: Final = 2.0**50
_IST: Final = IST_OFFSET_SECONDS
_SKEW: Final = SKEW_LIMIT_SECONDS


class CandleBuilder(CandleBook):
    """Builds 1-minute OHLCV bars from every Quote and Full packet of one feed.

    One per feed thread, kept across reconnects (a reconnect needs no re-seeding; `seed` is
    for a new process). `scan` takes every binary frame; `seal` closes the minutes that are
    due (call it every 0.25-0.5 s); `drain_forming` gives the forming bars that changed.
    The contract's rules ("History and candles"), made exact, per Quote or Full packet:

    - the key's latest OI (derivatives) is the packet's, when it carries one (Full, or an
      OI packet, code 5); a bar carries the latest as of its last trade;
    - a repeat of the key's last trade (same LTT and cumulative volume) changes nothing;
    - a non-finite price is counted (`non_finite`) and skipped;
    - the trade's time is its LTT (IST seconds), or the arrival time (the clock, in IST)
      if the LTT is more than 600 s from it (counted in `skewed`);
    - volume: a key's first packet is the baseline (0); an earlier IST day than the last
      trade's, or a lower cumulative volume on the same day, is stale (counted in `stale`,
      ignored); a later day counts from 0; else the difference;
    - the minute: the trade's, or the arrival's if the trade's is sealed (`late`);
    - outside 09:15-15:29 IST (unless round the clock) the volume baseline moves but no
      bar does. Ticker and previous-close packets carry no volume: ignored.
    """

    def scan(self, frame: bytes) -> None:
        """Take one binary frame (the feed thread, for every frame, beside the scanner).
        Raises `DecodeError` for a malformed frame, which then changes nothing."""
        # long function: the hot path inline (a call per packet costs more than its length).
        if type(frame) is not bytes:
            return self._scan(frame)
        size = len(frame)
        if size == 50 and frame[:3] == _QUOTE_HEAD:
            key, price, ltt, cum = _UNPACK_QUOTE(frame)
            oi = None
        elif size == 162 and frame[:3] == _FULL_HEAD:
            key, price, ltt, cum, oi = _UNPACK_FULL(frame)
        else:
            return self._scan(frame)
        st = self._keys.get(key)
        # DhanHQ's usual frame: one trade in the bar the key's last trade went to, volume not
        # lower, OI unchanged. This repeats `_trade` for that case only (the speed target).
        if (
            st is not None
            and ltt // 60 == st[_FAST]
            and cum >= st[_CUM]
            and (oi is None or oi == st[_OI] or not st[_DERIV])
        ):
            if ltt == st[_LTT] and cum == st[_CUM]:
                return None  # the last trade again, re-sent with a book change
            ticks = price * st[_K] + _MAGIC - _MAGIC
            if -_LIMIT < ticks < _LIMIT and -_SKEW <= ltt - (self._clock() + _IST) <= _SKEW:
                bar = st[_BAR]
                if ticks > bar[1]:
                    bar[1] = ticks
                elif ticks < bar[2]:
                    bar[2] = ticks
                bar[3] = ticks
                bar[4] += cum - st[_CUM]
                st[_LTT] = ltt
                st[_CUM] = cum
                self._changed[key] = None
                return None
        return self._trade(key, price, ltt, cum, oi)

    def _scan(self, frame: bytes) -> None:
        end = frame_length(frame)
        frame = bytes(frame)
        items: list[tuple[bytes, float, int, int, int | None] | tuple[bytes, int]] = []
        offset = 0
        while offset < end:
            code, size = packet_at(frame, offset, end)
            if code == 4:
                items.append((*_QUOTE_TRADE.unpack_from(frame, offset), None))
            elif code == 8:
                items.append(_FULL_TRADE.unpack_from(frame, offset))
            elif code == 5:
                items.append(_OI_PACKET.unpack_from(frame, offset))
            offset += size
        # Only a whole, valid frame changes state: a bad frame leaves no trace.
        for item in items:
            if len(item) == 2:
                self._set_oi(item[0], item[1])
            else:
                self._trade(*item)

    def _set_oi(self, key: bytes, oi: int) -> None:
        st = self._state(key)
        if st[_DERIV]:
            st[_OI] = oi
            st[_FAST] = -1  # its next trade takes the general path, which copies the OI

    def _trade(self, key: bytes, price: float, ltt: int, cum: int, oi: int | None) -> None:
        """One Quote or Full packet (code 4 or 8), by the rules in the class docstring."""
        st = self._state(key)
        if oi is not None and st[_DERIV]:
            st[_OI], st[_FAST] = oi, -1  # (as `_set_oi`)
        if ltt == st[_LTT] and cum == st[_CUM]:
            return
        ticks = price * st[_K]
        if ticks - ticks != 0.0:  # NaN or infinity
            self.non_finite += 1
            return
        now = self._clock() + _IST
        when = ltt
        if not -_SKEW <= ltt - now <= _SKEW:
            self.skewed += 1
            when = int(now // 1)
        day = when // SECONDS_PER_DAY
        volume = self._volume(st, day, cum)
        if volume < 0:
            self.stale += 1
            return
        st[_LTT], st[_CUM], st[_DAY], st[_FAST], st[_BAR] = ltt, cum, day, -1, None
        minute = when // 60
        if minute < self._watermark:
            self.late += 1
            minute = max(int(now // 60), self._watermark)  # (the clock went back: the first open)
        elif when == ltt:
            st[_FAST] = minute
        if self._in_session(minute):
            st[_BAR] = self._add_to_bar(key, minute, float(round(ticks)), volume, st[_OI])
        else:
            st[_FAST] = -1

    @staticmethod
    def _volume(st: list, day: int, cum: int) -> int:
        """The trade's own volume, or -1 for a stale packet."""
        if st[_CUM] < 0:
            return 0  # the key's first packet: the baseline
        if day != st[_DAY]:
            return cum if day > st[_DAY] else -1  # a new day counts from 0
        return cum - st[_CUM] if cum >= st[_CUM] else -1

    def _add_to_bar(
        self, key: bytes, minute: int, ticks: float, volume: int, oi: int | None
    ) -> list:
        bars = self._open.get(minute)
        if bars is None:
            bars = self._open[minute] = {}
        bar = bars.get(key)
        if bar is None:
            bars[key] = bar = [ticks, ticks, ticks, ticks, volume, oi]
        else:
            bar[1] = max(bar[1], ticks)
            bar[2] = min(bar[2], ticks)
            bar[3] = ticks
            bar[4] += volume
            bar[5] = oi
        self._changed[key] = None
        return bar
