"""Decoding DhanHQ v2 market-feed frames into packets, every price snapped to its
instrument's tick grid (DhanHQ sends float32: 131072.10 arrives as 131072.09375).
"""

from __future__ import annotations

from collections.abc import Mapping
from math import hypot
from operator import itemgetter
from typing import Final, SupportsFloat

from dhan.packets import (
    DISCONNECT_STRUCT,
    FULL_STRUCT,
    HEADER_STRUCT,
    OI_STRUCT,
    QUOTE_STRUCT,
    TICKER_STRUCT,
    DecodeError,
    DepthLevel,
    Disconnect,
    Full,
    MarketStatus,
    OpenInterest,
    Packet,
    PrevClose,
    Quote,
    Ticker,
    frame_length,
    new_tuple,
    packet_at,
)
from dhan.ticks import DEFAULT_TICK_SIZES, TickGrid, grid_id

__all__ = ["DEFAULT_TICK_SIZES", "Decoder", "PureDecoder", "TickGrid"]


# --- snapping ---------------------------------------------------------------------

# Snapping: ticks = round(price * ticks per rupee); value = ticks * units / scale, in
# integers but the last division, so the double is the nearest to the exact price. Where
# the units divide the scale (ticks of 0.01, 0.05, 0.0025, 0.1, 1 rupee...), that value is
# ticks / (ticks per rupee), and round() is (x + _MAGIC) - _MAGIC: the same doubles in
# about half the time. (1.5 * 2**52: adding it rounds any |x| <= 2**51 to an integer, ties
# to even, as round() does.) Other grids, and packets past the limit, take round().
_MAGIC: Final = 6755399441055744.0
_FULL_PRICES = (4, 7, 14, 15, 16, 17, *(i + j for i in range(18, 48, 6) for j in (4, 5)))
_QUOTE_PRICES = (4, 7, 11, 12, 13, 14)  # 7 is the average (ATP): the grid's decimals
_TICKER_PRICES = (4,)

# One tick grid: (ticks per rupee, float scale, the largest price the fast path takes, or
# 0.0 where units do not divide the scale, units, scale).
_Grid = tuple[float, float, float, int, int]
_Frame = bytes | bytearray | memoryview

# The hot path's names, Final and the unpacked fields typed so that the module also
# compiles well with mypyc: prices float (unboxed), other fields object (passed on as
# struct made them, never unboxed and boxed again).
_O = object
# fmt: off
_FullFields = tuple[
    int, int, int, int, float, _O, _O, float, _O, _O, _O, _O, _O, _O, float, float, float, float,
    _O, _O, _O, _O, float, float, _O, _O, _O, _O, float, float, _O, _O, _O, _O, float, float,
    _O, _O, _O, _O, float, float, _O, _O, _O, _O, float, float,
]
# fmt: on
_QuoteFields = tuple[
    int, int, int, int, float, _O, _O, float, _O, _O, _O, float, float, float, float
]
_TickerFields = tuple[int, int, int, int, float, _O]
_UNPACK_FULL: Final = FULL_STRUCT.unpack_from
_UNPACK_QUOTE: Final = QUOTE_STRUCT.unpack_from
_UNPACK_TICKER: Final = TICKER_STRUCT.unpack_from
_NEW: Final = new_tuple
_LEVEL: Final = DepthLevel
_FULL: Final = Full
_QUOTE: Final = Quote
_HYPOT: Final = hypot
_QUOTE_PRICES_OF: Final = itemgetter(*_QUOTE_PRICES)


def _rounded(f: tuple, prices: tuple[int, ...], grid: _Grid, offset: int) -> list[float]:
    """The prices at `prices` in `f`, snapped with round(): any finite price, any grid."""
    k, fs, _, u, s = grid
    try:
        return [round(f[i] * fs) / fs if i == 7 else round(f[i] * k) * u / s for i in prices]
    except (ValueError, OverflowError):  # round() of NaN or infinity
        raise DecodeError(f"non-finite price in packet at byte {offset}") from None


def _full(f: tuple, grid: _Grid, offset: int) -> Full:
    """A full packet snapped with round(): the slow path, for any grid and finite price."""
    fields = list(f)
    for i, price in zip(_FULL_PRICES, _rounded(f, _FULL_PRICES, grid, offset), strict=True):
        fields[i] = price
    depth = tuple(new_tuple(DepthLevel, fields[i : i + 6]) for i in range(18, 48, 6))
    return new_tuple(Full, (*fields[2:18], depth))


def _quote(f: tuple, grid: _Grid, offset: int) -> Quote:
    """A quote snapped with round(): the slow path, for any grid and finite price."""
    fields = list(f)
    for i, price in zip(_QUOTE_PRICES, _rounded(f, _QUOTE_PRICES, grid, offset), strict=True):
        fields[i] = price
    return new_tuple(Quote, fields[2:])


# --- the decoder --------------------------------------------------------------------


class Decoder:
    """Decodes frames into packets, snapping every price to its instrument's tick grid.

    `tick_sizes` maps (segment, security_id) to a tick size in rupees; instruments not in it
    use the segment's default grid. Averages (ATP) keep the grid's decimals, not its step.
    Raises `DecodeError` for anything malformed. This is the feed's hot path: a frame of
    one ticker, quote or full packet (DhanHQ's usual frame) skips the framing loop, and
    prices are snapped inline, without a call per price.
    """

    def __init__(self, tick_sizes: Mapping[tuple[int, int], float] | None = None) -> None:
        self._default = {seg: self._entry(TickGrid.of(t)) for seg, t in DEFAULT_TICK_SIZES.items()}
        self._grids: dict[int, _Grid] = {}
        for (seg, sid), tick in (tick_sizes or {}).items():
            self._grids[grid_id(seg, sid)] = self._entry(TickGrid.of(tick))
        self._fallback = self._entry(TickGrid.of(0.01))

    @staticmethod
    def _entry(grid: TickGrid) -> _Grid:
        fs = float(grid.scale)
        limit = 2.0**50 / fs if grid.scale % grid.units == 0 else 0.0
        return (grid.scale / grid.units, fs, limit, grid.units, grid.scale)

    def grid(self, segment: int, security_id: int) -> TickGrid:
        entry = self._grids.get(segment << 32 | security_id) or self._default.get(segment)
        entry = entry or self._fallback
        return TickGrid(entry[3], entry[4])

    def decode(self, frame: object) -> list[Packet]:
        """All packets in one frame (DhanHQ may concatenate several)."""
        if type(frame) is bytes:
            size = len(frame)
            if size == 162 and frame[0] == 8:
                return [self._full(frame, 0)]
            if size == 50 and frame[0] == 4:
                return [self._quote(frame, 0)]
            if size == 16 and frame[0] == 2:
                return [self._ticker(frame, 0)]
        end = frame_length(frame)
        assert isinstance(frame, _Frame)  # frame_length checked it (this tells mypy)
        packets: list[Packet] = []
        offset = 0
        while offset < end:
            code, size = packet_at(frame, offset, end)  # type: ignore[arg-type]
            if code == 8:
                packet: Packet = self._full(frame, offset)
            elif code == 4:
                packet = self._quote(frame, offset)
            elif code == 2 or code == 6:
                packet = self._ticker(frame, offset)
            elif code == 5:
                packet = new_tuple(OpenInterest, OI_STRUCT.unpack_from(frame, offset)[2:])
            elif code == 7:
                packet = new_tuple(MarketStatus, HEADER_STRUCT.unpack_from(frame, offset)[2:])
            else:
                packet = new_tuple(Disconnect, DISCONNECT_STRUCT.unpack_from(frame, offset)[2:])
            packets.append(packet)
            offset += size
        return packets

    # Each reads one packet whose code the caller checked, and checks its length field. The
    # fast path needs hypot() of the prices below the grid's limit: none is NaN or infinite,
    # and |ticks| stays below 2**50, where the magic rounding equals round(). (Full packets
    # check the snapped prices: NaN and infinity stay so, and a price past 2**51 ticks
    # stays past the limit, so the check decides as one on the prices sent would.)

    def _full(self, frame: _Frame, offset: int) -> Full:
        # long function: one flat body, the fields unpacked into locals once and every price
        # snapped inline (a call per price, a loop, or indexing f costs more: bench_codec.py).
        f: _FullFields = _UNPACK_FULL(frame, offset)
        # fmt: off
        (_, length, seg, sid, ltp, ltq, ltt, atp, vol, ts, tb, oi, oih, oil, op, cl, hi, lo,
         q1, a1, n1, o1, b1, s1, q2, a2, n2, o2, b2, s2, q3, a3, n3, o3, b3, s3,
         q4, a4, n4, o4, b4, s4, q5, a5, n5, o5, b5, s5) = f
        # fmt: on
        if length != 162:
            raise DecodeError(f"code 8 declares length {length}, expected 162")
        grid = self._grids.get(seg << 32 | sid)
        if grid is None:
            grid = self._default.get(seg, self._fallback)
        k, fs, lim, m = grid[0], grid[1], grid[2], _MAGIC
        # Snapped first, checked after (see above). SupportsFloat, not float: compiled with
        # mypyc, each is boxed once, for both hypot() and the packet.
        p0: SupportsFloat = (ltp * k + m - m) / k
        p1: SupportsFloat = (atp * fs + m - m) / fs
        p2: SupportsFloat = (op * k + m - m) / k
        p3: SupportsFloat = (cl * k + m - m) / k
        p4: SupportsFloat = (hi * k + m - m) / k
        p5: SupportsFloat = (lo * k + m - m) / k
        p6: SupportsFloat = (b1 * k + m - m) / k
        p7: SupportsFloat = (s1 * k + m - m) / k
        p8: SupportsFloat = (b2 * k + m - m) / k
        p9: SupportsFloat = (s2 * k + m - m) / k
        p10: SupportsFloat = (b3 * k + m - m) / k
        p11: SupportsFloat = (s3 * k + m - m) / k
        p12: SupportsFloat = (b4 * k + m - m) / k
        p13: SupportsFloat = (s4 * k + m - m) / k
        p14: SupportsFloat = (b5 * k + m - m) / k
        p15: SupportsFloat = (s5 * k + m - m) / k
        ok = _HYPOT(p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13, p14, p15) < lim
        if not ok:  # (not `>=`: NaN takes the slow path too)
            return _full(f, grid, offset)
        depth = (
            _NEW(_LEVEL, (q1, a1, n1, o1, p6, p7)),
            _NEW(_LEVEL, (q2, a2, n2, o2, p8, p9)),
            _NEW(_LEVEL, (q3, a3, n3, o3, p10, p11)),
            _NEW(_LEVEL, (q4, a4, n4, o4, p12, p13)),
            _NEW(_LEVEL, (q5, a5, n5, o5, p14, p15)),
        )
        fields = (seg, sid, p0, ltq, ltt, p1, vol, ts, tb, oi, oih, oil, p2, p3, p4, p5, depth)
        return _NEW(_FULL, fields)

    def _quote(self, frame: _Frame, offset: int) -> Quote:
        raw = _UNPACK_QUOTE(frame, offset)
        f: _QuoteFields = raw
        _, length, seg, sid, ltp, ltq, ltt, atp, vol, ts, tb, op, cl, hi, lo = f
        if length != 50:
            raise DecodeError(f"code 4 declares length {length}, expected 50")
        grid = self._grids.get(seg << 32 | sid)
        if grid is None:
            grid = self._default.get(seg, self._fallback)
        k, fs, m = grid[0], grid[1], _MAGIC
        if not _HYPOT(*_QUOTE_PRICES_OF(raw)) < grid[2]:
            return _quote(f, grid, offset)
        # fmt: off
        return _NEW(_QUOTE, (
            seg, sid, (ltp * k + m - m) / k, ltq, ltt, (atp * fs + m - m) / fs, vol, ts, tb,
            (op * k + m - m) / k, (cl * k + m - m) / k, (hi * k + m - m) / k, (lo * k + m - m) / k,
        ))
        # fmt: on

    def _ticker(self, frame: _Frame, offset: int) -> Ticker | PrevClose:
        f: _TickerFields = _UNPACK_TICKER(frame, offset)
        code, length, seg, sid, p, value = f
        if length != 16:
            raise DecodeError(f"code {code} declares length {length}, expected 16")
        grid = self._grids.get(seg << 32 | sid)
        if grid is None:
            grid = self._default.get(seg, self._fallback)
        k, limit = grid[0], grid[2]
        if -limit < p < limit:
            price = (p * k + _MAGIC - _MAGIC) / k
        else:
            price = _rounded(f, _TICKER_PRICES, grid, offset)[0]
        if code == 2:
            return _NEW(Ticker, (seg, sid, price, value))
        return _NEW(PrevClose, (seg, sid, price, value))


# The compiled build (dhan/decoderbuild.py) replaces `Decoder` when it matches this source.
PureDecoder = Decoder  # the pure-Python class, whichever `Decoder` is in use
if __name__ == "dhan.decoder":  # this module as written, not its compiled copy
    from dhan.decoderbuild import use_compiled

    use_compiled(globals())
