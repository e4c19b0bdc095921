"""A screen's condition and expressions over a whole universe at once: `Bars` (five 2-D arrays,
instruments x bars, right-aligned) and `Evaluation`, which the screens' runner makes once per
run and asks for `matches` (the condition) and `values` (each column and the rank). Each
distinct node is computed once per Evaluation, however often the screen names it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from screeners.language import indicators
from screeners.language.syntax import (
    FIELDS,
    Binary,
    Call,
    Compare,
    Condition,
    Expression,
    Field,
    Logical,
    Negative,
    Not,
    Number,
    Offset,
)

Array = np.ndarray[Any, Any]
COMPARISONS: dict[str, Callable[[Array, Array], Array]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "=": np.equal,
    "!=": np.not_equal,
}
ARITHMETIC: dict[str, Callable[[Array, Array], Array]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": indicators.divide,
}
ROLLING: dict[str, Callable[[Array, int], Array]] = {
    "sma": indicators.sma,
    "ema": indicators.ema,
    "rsi": indicators.rsi,
    "max": indicators.rolling_max,
    "min": indicators.rolling_min,
}


@dataclass(frozen=True, slots=True, eq=False)
class Bars:
    """A universe's bars: five float64 arrays of one shape (instruments, length), column -1
    each instrument's latest bar, a shorter history NaN-padded at the front. Made by the
    runner from the bar store (`from_histories`) and by the tests and the benchmark."""

    open: Array
    high: Array
    low: Array
    close: Array
    volume: Array

    def __post_init__(self) -> None:
        for name in FIELDS:
            array = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            object.__setattr__(self, name, array)
        if len({getattr(self, name).shape for name in FIELDS}) != 1 or self.close.ndim != 2:
            raise ValueError("bars need five 2-D arrays of one shape (instruments, length)")

    @classmethod
    def from_histories(
        cls, histories: Sequence[Mapping[str, Sequence[float]]], *, length: int
    ) -> Bars:
        """Right-align each instrument's history (field -> values, oldest first), keeping
        its latest `length` bars."""
        arrays = {name: np.full((len(histories), length), np.nan) for name in FIELDS}
        for row, history in enumerate(histories):
            for name in FIELDS:
                values = np.asarray(history[name], dtype=np.float64)[-length:]
                if length and values.size:
                    arrays[name][row, length - values.size :] = values
        return cls(**arrays)

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in FIELDS)


class Evaluation:
    """Nodes evaluated over `bars`, each distinct one once: `series` keeps a node's whole 2-D
    series (what functions and offsets read), `latest` its values a given number of bars back
    (what comparisons and columns read; arithmetic there works on those 1-D columns only)."""

    def __init__(self, bars: Bars) -> None:
        self.bars = bars
        self._rows, self._length = bars.close.shape
        self._present = (
            np.isfinite(bars.close[:, -1]) if self._length else np.zeros(self._rows, dtype=bool)
        )
        self._series: dict[Expression, Array] = {}
        self._latest: dict[tuple[Expression, int], Array] = {}
        self._conditions: dict[Condition, tuple[Array, Array]] = {}

    def matches(self, condition: Condition) -> npt.NDArray[np.bool_]:
        """Per instrument, whether `condition` holds on its latest bar: False where any of its
        terms lacks the bars to be defined (also under `not`)."""
        with np.errstate(all="ignore"):
            holds, defined = self.condition(condition)
        return holds & defined & self._present

    def values(self, expression: Expression) -> npt.NDArray[np.float64]:
        """Per instrument, `expression` on its latest bar; NaN where undefined (too little
        history, a division by zero, an overflow): the runner writes null."""
        with np.errstate(all="ignore"):
            value = self.latest(expression, 0)
        return np.where(np.isfinite(value) & self._present, value, np.nan)

    def condition(self, node: Condition) -> tuple[Array, Array]:
        """(holds, defined) per instrument on its latest bar."""
        if node not in self._conditions:
            self._conditions[node] = self._compute_condition(node)
        return self._conditions[node]

    def latest(self, node: Expression, back: int) -> Array:
        """`node` per instrument, `back` bars before the latest (1-D)."""
        key = (node, back)
        if key not in self._latest:
            self._latest[key] = self._compute_latest(node, back)
        return self._latest[key]

    def series(self, node: Expression) -> Array:
        """`node` over every bar: 2-D, or (1, 1) for a constant (numpy broadcasts it)."""
        if node not in self._series:
            self._series[node] = self._compute_series(node)
        return self._series[node]

    def _compute_condition(self, node: Condition) -> tuple[Array, Array]:
        if isinstance(node, Not):
            holds, defined = self.condition(node.operand)
            return ~holds, defined
        if isinstance(node, Logical):
            results = [self.condition(operand) for operand in node.operands]
            combine = np.logical_and if node.operator == "and" else np.logical_or
            holds = combine.reduce([result[0] for result in results])
            return holds, np.logical_and.reduce([result[1] for result in results])
        return self._compare(node)

    def _compare(self, node: Compare) -> tuple[Array, Array]:
        left, right = self.latest(node.left, 0), self.latest(node.right, 0)
        defined = np.isfinite(left) & np.isfinite(right)
        if node.operator in COMPARISONS:
            return COMPARISONS[node.operator](left, right), defined
        before_left, before_right = self.latest(node.left, 1), self.latest(node.right, 1)
        defined &= np.isfinite(before_left) & np.isfinite(before_right)
        if node.operator == "crosses above":
            return (before_left <= before_right) & (left > right), defined
        return (before_left >= before_right) & (left < right), defined

    def _compute_latest(self, node: Expression, back: int) -> Array:
        if isinstance(node, Number):
            return np.full(self._rows, node.value)
        if isinstance(node, Field):
            return self._column(getattr(self.bars, node.name), back)
        if isinstance(node, Offset):
            return self.latest(node.operand, back + node.bars)
        if isinstance(node, Negative):
            return -self.latest(node.operand, back)
        if isinstance(node, Binary):
            left, right = self.latest(node.left, back), self.latest(node.right, back)
            return ARITHMETIC[node.operator](left, right)
        if node.name == "abs" and node.operand is not None:
            return np.abs(self.latest(node.operand, back))
        if node.name == "change_pct" and node.operand is not None and node.period:
            earlier = self.latest(node.operand, back + node.period)
            return indicators.change_pct(self.latest(node.operand, back), earlier)
        return self._column(self.series(node), back)

    def _column(self, series: Array, back: int) -> Array:
        if back >= self._length:
            return np.full(self._rows, np.nan)
        return series[:, self._length - 1 - back]

    def _compute_series(self, node: Expression) -> Array:
        if isinstance(node, Number):
            return np.full((1, 1), node.value)
        if isinstance(node, Field):
            return getattr(self.bars, node.name)
        if isinstance(node, Offset):
            return indicators.shift(self._full(node.operand), node.bars)
        if isinstance(node, Negative):
            return -self.series(node.operand)
        if isinstance(node, Binary):
            return ARITHMETIC[node.operator](self.series(node.left), self.series(node.right))
        return self._call(node)

    def _call(self, node: Call) -> Array:
        period = node.period or 0
        if node.operand is None:  # atr(n), on the bars' own high, low and close
            return indicators.atr(self.bars.high, self.bars.low, self.bars.close, period)
        x = self._full(node.operand)
        if node.name == "abs":
            return np.abs(x)
        if node.name == "change_pct":
            return indicators.change_pct(x, indicators.shift(x, period))
        return ROLLING[node.name](x, period)

    def _full(self, node: Expression) -> Array:
        """`node`'s series at the universe's full shape: a constant (sma(5, 10)) is defined
        only where an instrument has a bar, as the look-back it declares promises."""
        series = self.series(node)
        if series.shape == self.bars.close.shape:
            return series
        present = np.isfinite(self.bars.close)
        return np.where(present, np.broadcast_to(series, present.shape), np.nan)
