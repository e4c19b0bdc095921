"""One bar of an instrument's prices, as DhanHQ's data gives it or the live builder makes
it: `t` its start in Unix seconds (a minute's start, or 00:00 IST of a day), prices in
rupees on the instrument's tick grid, `v` its own traded quantity, `oi` the open interest
at its last trade (derivatives; None otherwise). Made by `dhan.candles` and
`dhan.chartanswers`; `history.timeframes.Bar` adds its JSON shape."""

from __future__ import annotations

from typing import NamedTuple


class Bar(NamedTuple):
    t: int
    o: float
    h: float
    l: float  # noqa: E741 - the contract's name
    c: float
    v: int
    oi: int | None = None
