"""A screen's arithmetic: its texts parsed into trees (`compile_screen`), then evaluated
over the universe's bar arrays at once (`evaluate`): which instruments match, their columns
and rank value, ranked and cut at the screen's limit. No database here; the runner
(`screeners.runs`) loads the arrays and stores what comes out."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from history.arrays import BarArrays
from screeners.language import Bars, Evaluation, Node, lookback, parse_condition, parse_expression

BARS_FLOOR = 300  # every screen's indicators see at least this many bars (EMA/RSI settle)
BARS_SPARE = 100  # beyond a term's look-back, for the same reason
MAX_BARS = 1000


@dataclass(frozen=True, slots=True)
class Compiled:
    condition: Node
    columns: dict[str, Node]
    rank: Node | None

    @property
    def bars(self) -> int:
        """How many bars of each instrument the evaluation reads."""
        nodes = [self.condition, *self.columns.values(), *([self.rank] if self.rank else [])]
        deepest = max(lookback(n) for n in nodes)
        return min(max(BARS_FLOOR, deepest + 1 + BARS_SPARE), MAX_BARS)


@dataclass(frozen=True, slots=True)
class Match:
    index: int  # the instrument's row in the arrays
    columns: dict[str, float | None]
    rank_value: float | None
    price: float | None  # the latest close


def compile_screen(*, condition: str, columns: dict[str, str], rank_by: str) -> Compiled:
    """Raises ScreenSyntaxError for text saved before a rule changed (the run fails)."""
    return Compiled(
        condition=parse_condition(condition),
        columns={name: parse_expression(text) for name, text in columns.items()},
        rank=parse_expression(rank_by) if rank_by else None,
    )


def _number(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else round(float(value), 4)


def evaluate(
    compiled: Compiled, arrays: BarArrays, *, descending: bool, limit: int, symbols: list[str]
) -> list[Match]:
    """The matching instruments, ranked: by the rank value (undefined ones last), then by
    symbol; the first `limit`."""
    bars = Bars(
        open=arrays.open,
        high=arrays.high,
        low=arrays.low,
        close=arrays.close,
        volume=arrays.volume,
    )
    evaluation = Evaluation(bars)
    hits = np.flatnonzero(evaluation.matches(compiled.condition))
    columns = {name: evaluation.values(node) for name, node in compiled.columns.items()}
    ranks = evaluation.values(compiled.rank) if compiled.rank is not None else None
    latest = arrays.close[:, -1] if arrays.close.shape[1] else np.full(len(arrays.keys), np.nan)

    def order(i: int) -> tuple:
        value = float(ranks[i]) if ranks is not None else math.nan
        defined = not math.isnan(value)
        sort_value = (-value if descending else value) if defined else 0.0
        return (not defined, sort_value, symbols[i])

    chosen = sorted((int(i) for i in hits), key=order)[:limit]
    return [
        Match(
            index=i,
            columns={name: _number(values[i]) for name, values in columns.items()},
            rank_value=_number(ranks[i]) if ranks is not None else None,
            price=_number(latest[i]),
        )
        for i in chosen
    ]
