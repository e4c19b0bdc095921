"""The simulator's portfolio REST, consistent with its fills: `GET /v2/positions` (the
day's traded orders of a client id, netted per instrument and product, DhanHQ's position
fields) and `GET /v2/holdings` (what the client id held at the open: the configured
demat holdings, `SimulatorConfig.holdings`). Amounts are computed in Decimal from the
fill prices, as DhanHQ's books would be."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from dhan.segments import InstrumentKey
from dhan.simulator.orders import Order

BUY = "BUY"


def _d(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def positions_rows(orders: Iterable[Order]) -> list[dict]:
    """One row per (instrument, product) with fills today."""
    books: dict[tuple[str, str, str], dict] = {}
    for order in orders:
        if order.filled <= 0:
            continue
        line = books.setdefault(
            (order.segment, order.security_id, order.product_type),
            {"order": order, "buy": [0, Decimal(0)], "sell": [0, Decimal(0)]},
        )
        side = line["buy" if order.transaction_type == BUY else "sell"]
        side[0] += order.filled
        side[1] += _d(order.average_price) * order.filled
    return [_position(line) for line in books.values()]


def _position(line: dict) -> dict:
    order: Order = line["order"]
    (buy_qty, buy_value), (sell_qty, sell_value) = line["buy"], line["sell"]
    buy_avg = buy_value / buy_qty if buy_qty else Decimal(0)
    sell_avg = sell_value / sell_qty if sell_qty else Decimal(0)
    net = buy_qty - sell_qty
    closed = min(buy_qty, sell_qty)
    return {
        "dhanClientId": order.client_id,
        "tradingSymbol": order.trading_symbol,
        "securityId": order.security_id,
        "exchangeSegment": order.segment,
        "productType": order.product_type,
        "positionType": "LONG" if net > 0 else "SHORT" if net < 0 else "CLOSED",
        "buyQty": buy_qty,
        "buyAvg": float(round(buy_avg, 4)),
        "sellQty": sell_qty,
        "sellAvg": float(round(sell_avg, 4)),
        "netQty": net,
        "costPrice": float(round(buy_avg if net >= 0 else sell_avg, 4)),
        "realizedProfit": float(round((sell_avg - buy_avg) * closed, 2)),
        "dayBuyValue": float(buy_value),
        "daySellValue": float(sell_value),
    }


def holdings_rows(
    holdings: Iterable[dict], *, symbol: Callable[[InstrumentKey], str]
) -> list[dict]:
    """DhanHQ's holding fields for configured holdings `{"key", "quantity", "avg_cost"}`."""
    rows = []
    for holding in holdings:
        key = InstrumentKey.parse(holding["key"])
        quantity = int(holding["quantity"])
        rows.append(
            {
                "exchange": key.segment_name.split("_")[0],
                "tradingSymbol": symbol(key),
                "securityId": str(key.security_id),
                "isin": holding.get("isin", ""),
                "totalQty": quantity,
                "dpQty": quantity,
                "t1Qty": 0,
                "availableQty": quantity,
                "collateralQty": 0,
                "avgCostPrice": float(holding["avg_cost"]),
            }
        )
    return rows
