"""Decoding DhanHQ v2 market-feed frames into packets, every price snapped to its
instrument's tick grid (DhanHQ sends float32: 131072.10 arrives as 131072.09375).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import hypot

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

# --- tick grid ----------------------------------------------------------------------

DEFAULT_TICK_SIZES: dict[int, float] = {
    0: 0.01,  # indices: 0.05 or 0.01 in the scrip master; the finer grid holds both
    1: 0.01,  # NSE equities: 0.01 below 250 rupees since 2025; finer is never wrong
    2: 0.05,
    3: 0.0025,
    4: 0.01,
    5: 0.05,
    7: 0.0025,
    8: 0.05,
}


@dataclass(frozen=True, slots=True)
class TickGrid:
    """A tick size as an integer number of units of 10**-decimals rupees.

    Snapping divides integers, so 1612.35 comes out as the double that prints 1612.35.
    """

    units: int
    scale: int

    @classmethod
    def of(cls, tick_size: float | str) -> TickGrid:
        text = f"{float(tick_size):.6f}".rstrip("0").rstrip(".")
        decimals = len(text.partition(".")[2])
        scale = 10 ** max(decimals, 2)
        units = round(float(tick_size) * scale)
        if units <= 0:
            raise ValueError(f"tick size must be positive, got {tick_size!r}")
        return cls(units, scale)

    def snap(self, price: float) -> float:
        return round(price * self.scale / self.units) * self.units / self.scale


def _grid_id(segment: int, security_id: int) -> int:
    return segment << 32 | security_id


# --- snapping ---------------------------------------------------------------------

# Snapping: ticks = round(price * ticks per rupee); value = ticks * units / scale, in
# integers but the last division, so the double is the nearest to the exact price. Where
# the units divide the scale (ticks of 0.01, 0.05, 0.0025, 0.1, 1 rupee...), that value is
# ticks / (ticks per rupee), and round() is (x + _MAGIC) - _MAGIC: the same doubles in
# about half the time. (1.5 * 2**52: adding it rounds any |x| <= 2**51 to an integer, ties
# to even, as round() does.) Other grids, and packets past the limit, take round().
_MAGIC = 6755399441055744.0
_FULL_PRICES = (4, 7, 14, 15, 16, 17, *(i + j for i in range(18, 48, 6) for j in (4, 5)))
_QUOTE_PRICES = (4, 7, 11, 12, 13, 14)  # 7 is the average (ATP): the grid's decimals
_TICKER_PRICES = (4,)

# One tick grid: (ticks per rupee, float scale, the largest price the fast path takes, or
# 0.0 where units do not divide the scale, units, scale).
_Grid = tuple[float, float, float, int, int]


def _rounded(f: tuple, prices: tuple[int, ...], grid: _Grid, offset: int) -> list[float]:
    """The prices at `prices` in `f`, snapped with round(): any finite price, any grid."""
    k, fs, _, u, s = grid
    try:
        return [round(f[i] * fs) / fs if i == 7 else round(f[i] * k) * u / s for i in prices]
    except (ValueError, OverflowError):  # round() of NaN or infinity
        raise DecodeError(f"non-finite price in packet at byte {offset}") from None


def _full(f: tuple, p: Sequence[float]) -> Full:
    """A full packet from its fields and its snapped prices (in _FULL_PRICES's order)."""
    depth = (
        new_tuple(DepthLevel, (f[18], f[19], f[20], f[21], p[6], p[7])),
        new_tuple(DepthLevel, (f[24], f[25], f[26], f[27], p[8], p[9])),
        new_tuple(DepthLevel, (f[30], f[31], f[32], f[33], p[10], p[11])),
        new_tuple(DepthLevel, (f[36], f[37], f[38], f[39], p[12], p[13])),
        new_tuple(DepthLevel, (f[42], f[43], f[44], f[45], p[14], p[15])),
    )
    return new_tuple(
        Full,
        (
            f[2],
            f[3],
            p[0],
            f[5],
            f[6],
            p[1],
            f[8],
            f[9],
            f[10],
            f[11],
            f[12],
            f[13],
            p[2],
            p[3],
            p[4],
            p[5],
            depth,
        ),
    )


def _quote(f: tuple, p: Sequence[float]) -> Quote:
    return new_tuple(
        Quote, (f[2], f[3], p[0], f[5], f[6], p[1], f[8], f[9], f[10], p[2], p[3], p[4], p[5])
    )


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
            self._grids[_grid_id(seg, sid)] = self._entry(TickGrid.of(tick))
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

    def decode(self, frame: bytes) -> list[Packet]:
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
        packets: list[Packet] = []
        offset = 0
        while offset < end:
            code, size = packet_at(frame, offset, end)
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
    # and |ticks| stays below 2**50, where the magic rounding equals round().

    def _full(self, frame: bytes, offset: int) -> Full:
        # long function: one flat body, every price snapped inline (a call per price, or a
        # loop over them, costs more than the length: bench/bench_codec.py).
        f = FULL_STRUCT.unpack_from(frame, offset)
        if f[1] != 162:
            raise DecodeError(f"code 8 declares length {f[1]}, expected 162")
        grid = self._grids.get(f[2] << 32 | f[3]) or self._default.get(f[2]) or self._fallback
        k, fs, limit = grid[0], grid[1], grid[2]
        if (
            hypot(
                f[4],
                f[7],
                f[14],
                f[15],
                f[16],
                f[17],
                f[22],
                f[23],
                f[28],
                f[29],
                f[34],
                f[35],
                f[40],
                f[41],
                f[46],
                f[47],
            )
            < limit
        ):
            m = _MAGIC
            return _full(
                f,
                (
                    (f[4] * k + m - m) / k,
                    (f[7] * fs + m - m) / fs,
                    (f[14] * k + m - m) / k,
                    (f[15] * k + m - m) / k,
                    (f[16] * k + m - m) / k,
                    (f[17] * k + m - m) / k,
                    (f[22] * k + m - m) / k,
                    (f[23] * k + m - m) / k,
                    (f[28] * k + m - m) / k,
                    (f[29] * k + m - m) / k,
                    (f[34] * k + m - m) / k,
                    (f[35] * k + m - m) / k,
                    (f[40] * k + m - m) / k,
                    (f[41] * k + m - m) / k,
                    (f[46] * k + m - m) / k,
                    (f[47] * k + m - m) / k,
                ),
            )
        return _full(f, _rounded(f, _FULL_PRICES, grid, offset))

    def _quote(self, frame: bytes, offset: int) -> Quote:
        f = QUOTE_STRUCT.unpack_from(frame, offset)
        if f[1] != 50:
            raise DecodeError(f"code 4 declares length {f[1]}, expected 50")
        grid = self._grids.get(f[2] << 32 | f[3]) or self._default.get(f[2]) or self._fallback
        k, fs, limit = grid[0], grid[1], grid[2]
        if hypot(f[4], f[7], f[11], f[12], f[13], f[14]) < limit:
            m = _MAGIC
            return _quote(
                f,
                (
                    (f[4] * k + m - m) / k,
                    (f[7] * fs + m - m) / fs,
                    (f[11] * k + m - m) / k,
                    (f[12] * k + m - m) / k,
                    (f[13] * k + m - m) / k,
                    (f[14] * k + m - m) / k,
                ),
            )
        return _quote(f, _rounded(f, _QUOTE_PRICES, grid, offset))

    def _ticker(self, frame: bytes, offset: int) -> Ticker | PrevClose:
        f = TICKER_STRUCT.unpack_from(frame, offset)
        if f[1] != 16:
            raise DecodeError(f"code {f[0]} declares length {f[1]}, expected 16")
        grid = self._grids.get(f[2] << 32 | f[3]) or self._default.get(f[2]) or self._fallback
        k, p = grid[0], f[4]
        if -grid[2] < p < grid[2]:
            price = (p * k + _MAGIC - _MAGIC) / k
        else:
            price = _rounded(f, _TICKER_PRICES, grid, offset)[0]
        return new_tuple(Ticker if f[0] == 2 else PrevClose, (f[2], f[3], price, f[5]))
