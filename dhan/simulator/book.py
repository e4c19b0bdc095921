"""Simulated prices: a random walk on each instrument's tick grid, shared by the feed and
REST servers of the simulator (so both tell the same story)."""

from __future__ import annotations

import random
import threading
import zlib
from collections.abc import Callable, Mapping

from dhan.segments import InstrumentKey
from dhan.ticks import TickGrid


class PriceBook:
    """Simulated prices: a random walk on each instrument's tick grid. Thread-safe."""

    def __init__(
        self,
        *,
        tick_size: Callable[[InstrumentKey], float],
        base_prices: Mapping[str, float],
        rng: random.Random,
    ) -> None:
        self._tick_size = tick_size
        self._base = base_prices
        self._rng = rng
        self._lock = threading.Lock()
        self._state: dict[InstrumentKey, list] = {}
        self._pinned: set[InstrumentKey] = set()  # key -> [grid, ticks, prev, open, hi, lo, vol]

    def _ensure(self, key: InstrumentKey) -> list:
        state = self._state.get(key)
        if state is None:
            grid = TickGrid.of(self._tick_size(key))
            base = self._base.get(str(key))
            if base is None:  # stable per security id, so restarts agree
                base = 50 + zlib.crc32(str(key).encode()) % 4950
            ticks = max(1, round(base * grid.scale / grid.units))
            state = [grid, ticks, ticks, ticks, ticks, ticks, 0]
            self._state[key] = state
        return state

    @staticmethod
    def _price(grid: TickGrid, ticks: int) -> float:
        return ticks * grid.units / grid.scale

    def pin(self, key: InstrumentKey, price: float | None) -> None:
        """Hold `key` at `price` (on its grid) until pinned elsewhere or unpinned (None):
        tests drive the market to known prices."""
        with self._lock:
            state = self._ensure(key)
            if price is None:
                self._pinned.discard(key)
                return
            grid = state[0]
            state[1] = max(1, round(price * grid.scale / grid.units))
            state[4], state[5] = max(state[4], state[1]), min(state[5], state[1])
            self._pinned.add(key)

    def step(self, key: InstrumentKey) -> float:
        with self._lock:
            state = self._ensure(key)
            if key in self._pinned:
                state[6] += 1
                return self._price(state[0], state[1])
            state[1] = max(1, state[1] + self._rng.choice((-3, -2, -1, -1, 1, 1, 2, 3)))
            state[4], state[5] = max(state[4], state[1]), min(state[5], state[1])
            state[6] += self._rng.randint(1, 500)
            return self._price(state[0], state[1])

    def depth(self, key: InstrumentKey, levels: int) -> tuple[list[tuple], list[tuple]]:
        """The order book at the current price, best first: `levels` rows of (price,
        quantity, orders) a side. Bids start a tick below the LTP, asks at one tick above
        (best bid < LTP <= best ask), one row per tick; quantities and order counts are
        derived from the price, so the full packet's 5 levels and the depth feed's 20 agree
        and the book moves with the price."""
        with self._lock:
            grid, ticks = self._ensure(key)[:2]
        price = self._price
        sides = []
        for sign, side in ((-1, "bid"), (1, "ask")):
            rows = []
            for i in range(levels):
                at = ticks + sign * (i + 1)
                seed = zlib.crc32(f"{key}:{side}:{at}".encode())
                quantity = 1 + seed % 2500
                rows.append(
                    (price(grid, max(at, 0)), quantity, 1 + (seed >> 12) % min(quantity, 40))
                )
            sides.append(rows)
        return sides[0], sides[1]

    def history_anchor(self, key: InstrumentKey) -> tuple[TickGrid, int]:
        """`key`'s tick grid and previous close in ticks: the simulator's daily history
        (`archive`) ends at this close."""
        with self._lock:
            state = self._ensure(key)
            return state[0], state[2]

    def snapshot(self, key: InstrumentKey) -> dict[str, float]:
        with self._lock:
            grid, ticks, prev, opn, high, low, volume = self._ensure(key)
            p = self._price
            return {
                "ltp": p(grid, ticks),
                "prev_close": p(grid, prev),
                "open": p(grid, opn),
                "high": p(grid, high),
                "low": p(grid, low),
                "volume": volume,
                "tick": grid.units / grid.scale,
            }
