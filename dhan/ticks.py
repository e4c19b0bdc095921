"""Tick grids: the price steps DhanHQ's prices are snapped to (`dhan.decoder`), per
segment by default and per instrument from the scrip master."""

from __future__ import annotations

from dataclasses import dataclass

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


def grid_id(segment: int, security_id: int) -> int:
    return segment << 32 | security_id
