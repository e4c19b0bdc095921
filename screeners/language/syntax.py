"""The screen language's syntax tree: frozen, hashable nodes (equal text gives equal nodes, so
the evaluator computes each distinct term once), the functions' signatures, `lookback` and
the error type. Built by parser.py, read by evaluate.py and by the screens' runner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FIELDS = ("open", "high", "low", "close", "volume")

Arithmetic = Literal["+", "-", "*", "/"]
Comparison = Literal["<", "<=", ">", ">=", "=", "!=", "crosses above", "crosses below"]


class ScreenSyntaxError(ValueError):
    """A screen's text that is not a valid condition or expression: `message` says why in a
    trader's words, `position` is the 0-based character offset of the problem (what the
    editor underlines and the check API returns)."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True, slots=True)
class Signature:
    """A function of the language: whether it takes a series `x` and a period `n`, and the
    bars of history its value needs beyond its input's (TA-Lib's lookback for the period)."""

    takes_series: bool
    takes_period: bool
    lookback_beyond_period: int  # the function's own lookback is n + this

    @property
    def arity(self) -> int:
        return int(self.takes_series) + int(self.takes_period)


FUNCTIONS: dict[str, Signature] = {
    "sma": Signature(takes_series=True, takes_period=True, lookback_beyond_period=-1),
    "ema": Signature(takes_series=True, takes_period=True, lookback_beyond_period=-1),
    "rsi": Signature(takes_series=True, takes_period=True, lookback_beyond_period=0),
    "atr": Signature(takes_series=False, takes_period=True, lookback_beyond_period=0),
    "max": Signature(takes_series=True, takes_period=True, lookback_beyond_period=-1),
    "min": Signature(takes_series=True, takes_period=True, lookback_beyond_period=-1),
    "change_pct": Signature(takes_series=True, takes_period=True, lookback_beyond_period=0),
    "abs": Signature(takes_series=True, takes_period=False, lookback_beyond_period=0),
}


@dataclass(frozen=True, slots=True)
class Number:
    value: float


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # one of FIELDS


@dataclass(frozen=True, slots=True)
class Call:
    """A function of FUNCTIONS: `operand` is its x (None for atr), `period` its n (None
    for abs)."""

    name: str
    operand: Expression | None
    period: int | None


@dataclass(frozen=True, slots=True)
class Offset:
    """`operand[bars]`: the value `bars` bars before the latest (bars >= 1)."""

    operand: Expression
    bars: int


@dataclass(frozen=True, slots=True)
class Negative:
    operand: Expression


@dataclass(frozen=True, slots=True)
class Binary:
    operator: Arithmetic
    left: Expression
    right: Expression


@dataclass(frozen=True, slots=True)
class Compare:
    operator: Comparison
    left: Expression
    right: Expression


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition


@dataclass(frozen=True, slots=True)
class Logical:
    """`operands` joined by one `operator` (a chain of `and`s or of `or`s)."""

    operator: Literal["and", "or"]
    operands: tuple[Condition, ...]


Expression = Number | Field | Call | Offset | Negative | Binary
Condition = Compare | Not | Logical
Node = Expression | Condition
EXPRESSION_TYPES = (Number, Field, Call, Offset, Negative, Binary)
CONDITION_TYPES = (Compare, Not, Logical)


def children(node: Node) -> tuple[Node, ...]:
    """A node's direct sub-nodes, in text order (validation and the evaluator walk these)."""
    if isinstance(node, (Number, Field)):
        return ()
    if isinstance(node, Call):
        return () if node.operand is None else (node.operand,)
    if isinstance(node, (Offset, Negative, Not)):
        return (node.operand,)
    if isinstance(node, (Binary, Compare)):
        return (node.left, node.right)
    return node.operands


def own_lookback(node: Node) -> int:
    """The bars of history `node` needs beyond what its sub-nodes need (validation adds these
    up the tree; `lookback` is their sum along the deepest path)."""
    if isinstance(node, Offset):
        return node.bars
    if isinstance(node, Call) and node.period is not None:
        return node.period + FUNCTIONS[node.name].lookback_beyond_period
    if isinstance(node, Compare) and node.operator.startswith("crosses"):
        return 1  # `a crosses above b` reads a[1] and b[1]
    return 0


def lookback(node: Node) -> int:
    """Bars of history needed before the latest bar for `node` to be defined: the runner asks
    for lookback + 1 bars (e.g. `sma(close, 200)[21]` -> 220). Nodes are at most 32 deep
    (validation), so the recursion is bounded."""
    below = max((lookback(child) for child in children(node)), default=0)
    return own_lookback(node) + below


def to_text(node: Node) -> str:
    """Canonical text for `node` that parses back to an equal node (fully parenthesised;
    lower case): what the runner may log and the tests round-trip."""
    if isinstance(node, Number):
        return repr(node.value) if node.value >= 0 else f"(-{-node.value!r})"
    if isinstance(node, Field):
        return node.name
    if isinstance(node, Call):
        parts = [to_text(child) for child in children(node)]
        parts += [] if node.period is None else [str(node.period)]
        return f"{node.name}({', '.join(parts)})"
    if isinstance(node, Offset):
        return f"{to_text(node.operand)}[{node.bars}]"
    if isinstance(node, Negative):
        return f"(-{to_text(node.operand)})"
    if isinstance(node, Not):
        return f"(not {to_text(node.operand)})"
    if isinstance(node, Logical):
        return "(" + f" {node.operator} ".join(to_text(child) for child in node.operands) + ")"
    return f"({to_text(node.left)} {node.operator} {to_text(node.right)})"
