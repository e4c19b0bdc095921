"""A portfolio valued on live prices, in Decimal end to end: per line the LTP, value, the
day's P&L and the total P&L, and totals. Pure: the lines come from DhanHQ's holdings and
positions (`lines_from`), the prices from the cache.

- A holding (bought before today): value = qty x LTP; P&L = (LTP - avg cost) x qty; day's
  P&L = (LTP - previous close) x qty.
- A position (today's trades, netted): P&L = realized + (LTP - cost price) x net qty, all
  of it made today (day's P&L = P&L).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Line:
    kind: str  # "holding" or "position"
    key: str
    symbol: str
    quantity: int
    avg_cost: Decimal
    realized: Decimal = ZERO


def money(value: object) -> Decimal:
    """DhanHQ's JSON numbers as exact decimals (via their shortest text)."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value or 0))


def lines_from(holdings: Iterable[dict], positions: Iterable[dict], segment_of) -> list[Line]:
    """Lines from DhanHQ's `GET /v2/holdings` and `GET /v2/positions` rows; `segment_of`
    names a holding's segment from its exchange (holdings carry no segment)."""
    out = []
    for row in holdings:
        out.append(
            Line(
                "holding",
                f"{segment_of(row.get('exchange', 'NSE'))}:{row['securityId']}",
                str(row.get("tradingSymbol", "")),
                int(row.get("totalQty") or 0),
                money(row.get("avgCostPrice")),
            )
        )
    for row in positions:
        out.append(
            Line(
                "position",
                f"{row['exchangeSegment']}:{row['securityId']}",
                str(row.get("tradingSymbol", "")),
                int(row.get("netQty") or 0),
                money(row.get("costPrice")),
                money(row.get("realizedProfit")),
            )
        )
    return out


def value(
    lines: Iterable[Line], ltp: Mapping[str, Decimal], prev_close: Mapping[str, Decimal]
) -> dict:
    """PORTFOLIO: `{"holdings": [line...], "totals": {"value", "day_pnl", "pnl"}}`, money
    as Decimal (None where no price is known yet)."""
    rows, totals = [], {"value": ZERO, "day_pnl": ZERO, "pnl": ZERO}
    for line in lines:
        price = ltp.get(line.key)
        row = {
            "kind": line.kind,
            "key": line.key,
            "symbol": line.symbol,
            "quantity": line.quantity,
            "avg_cost": line.avg_cost,
            "ltp": price,
            "value": None,
            "day_pnl": None,
            "pnl": None,
        }
        if price is not None:
            qty = Decimal(line.quantity)
            row["value"] = price * qty
            row["pnl"] = line.realized + (price - line.avg_cost) * qty
            close = prev_close.get(line.key)
            if line.kind == "position":
                row["day_pnl"] = row["pnl"]
            elif close is not None:
                row["day_pnl"] = (price - close) * qty
            for field in totals:
                totals[field] += row[field] or ZERO
        rows.append(row)
    return {"holdings": rows, "totals": totals}
