"""Decoding DhanHQ v2 market-feed frames into packets, every price snapped to its
instrument's tick grid (DhanHQ sends float32: 131072.10 arrives as 131072.09375).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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


class Decoder:
    """Decodes frames into packets, snapping every price to its instrument's tick grid.

    `tick_sizes` maps (segment, security_id) to a tick size in rupees; instruments not in it
    use the segment's default grid. Averages (ATP) keep the grid's decimals, not its step.
    Raises `DecodeError` for anything malformed. This is the feed's hot path: one flat
    function, no per-price calls.
    """

    def __init__(self, tick_sizes: Mapping[tuple[int, int], float] | None = None) -> None:
        self._default = {seg: self._entry(TickGrid.of(t)) for seg, t in DEFAULT_TICK_SIZES.items()}
        self._grids: dict[int, tuple[float, float, int, int]] = {}
        for (seg, sid), tick in (tick_sizes or {}).items():
            self._grids[_grid_id(seg, sid)] = self._entry(TickGrid.of(tick))
        self._fallback = self._entry(TickGrid.of(0.01))

    @staticmethod
    def _entry(grid: TickGrid) -> tuple[float, int, int, float]:
        # (ticks per rupee, units, scale, fine scale): see _snap for how they are used.
        return (grid.scale / grid.units, grid.units, grid.scale, float(grid.scale))

    def grid(self, segment: int, security_id: int) -> TickGrid:
        entry = self._grids.get(segment << 32 | security_id) or self._default.get(segment)
        entry = entry or self._fallback
        return TickGrid(entry[1], entry[2])

    def decode(self, frame: bytes) -> list[Packet]:
        """All packets in one frame (DhanHQ may concatenate several).

        Snapping: ticks = round(price * scale / units); value = ticks * units / scale, all
        in integers but the last division, so the double is the nearest to the exact price.
        """
        # long function: the codec's hot loop, one flat body with the snapping inlined; a
        # call per packet kind or per price costs more than the length (bench/bench_codec).
        end = frame_length(frame)
        packets: list[Packet] = []
        offset = 0
        grids, defaults, fallback = self._grids, self._default, self._fallback
        try:
            while offset < end:
                code, size = packet_at(frame, offset, end)
                if code == 2 or code == 6:
                    _, _, seg, sid, p, n = TICKER_STRUCT.unpack_from(frame, offset)
                    k, u, s, _f = grids.get(seg << 32 | sid) or defaults.get(seg) or fallback
                    packet = new_tuple(
                        Ticker if code == 2 else PrevClose, (seg, sid, round(p * k) * u / s, n)
                    )
                elif code == 4:
                    f = QUOTE_STRUCT.unpack_from(frame, offset)
                    seg, sid = f[2], f[3]
                    k, u, s, fs = grids.get(seg << 32 | sid) or defaults.get(seg) or fallback
                    packet = new_tuple(
                        Quote,
                        (
                            seg,
                            sid,
                            round(f[4] * k) * u / s,
                            f[5],
                            f[6],
                            round(f[7] * fs) / fs,
                            f[8],
                            f[9],
                            f[10],
                            round(f[11] * k) * u / s,
                            round(f[12] * k) * u / s,
                            round(f[13] * k) * u / s,
                            round(f[14] * k) * u / s,
                        ),
                    )
                elif code == 8:
                    f = FULL_STRUCT.unpack_from(frame, offset)
                    seg, sid = f[2], f[3]
                    k, u, s, fs = grids.get(seg << 32 | sid) or defaults.get(seg) or fallback
                    depth = tuple(
                        [
                            new_tuple(
                                DepthLevel,
                                (
                                    f[i],
                                    f[i + 1],
                                    f[i + 2],
                                    f[i + 3],
                                    round(f[i + 4] * k) * u / s,
                                    round(f[i + 5] * k) * u / s,
                                ),
                            )
                            for i in (18, 24, 30, 36, 42)
                        ]
                    )
                    packet = new_tuple(
                        Full,
                        (
                            seg,
                            sid,
                            round(f[4] * k) * u / s,
                            f[5],
                            f[6],
                            round(f[7] * fs) / fs,
                            f[8],
                            f[9],
                            f[10],
                            f[11],
                            f[12],
                            f[13],
                            round(f[14] * k) * u / s,
                            round(f[15] * k) * u / s,
                            round(f[16] * k) * u / s,
                            round(f[17] * k) * u / s,
                            depth,
                        ),
                    )
                elif code == 5:
                    packet = new_tuple(OpenInterest, OI_STRUCT.unpack_from(frame, offset)[2:])
                elif code == 7:
                    packet = new_tuple(MarketStatus, HEADER_STRUCT.unpack_from(frame, offset)[2:])
                else:
                    packet = new_tuple(Disconnect, DISCONNECT_STRUCT.unpack_from(frame, offset)[2:])
                packets.append(packet)
                offset += size
        except (ValueError, OverflowError) as exc:  # round() of NaN or infinity
            if isinstance(exc, DecodeError):
                raise
            raise DecodeError(f"non-finite price in packet at byte {offset}") from None
        return packets
