"""A place-order request as the simulator reads it: DhanHQ's v2 fields, and why DhanHQ would
reject it (`orders.OrderBook.place` rejects at once, with that reason)."""

from __future__ import annotations

import math

from dhan.ticks import TickGrid

ORDER_SEGMENTS = frozenset(
    {"NSE_EQ", "NSE_FNO", "NSE_CURRENCY", "BSE_EQ", "BSE_FNO", "BSE_CURRENCY", "MCX_COMM"}
)
CHOICES = {
    "transactionType": frozenset({"BUY", "SELL"}),
    "productType": frozenset({"CNC", "INTRADAY", "MARGIN", "MTF", "CO", "BO"}),
    "orderType": frozenset({"MARKET", "LIMIT"}),  # STOP_LOSS(_MARKET): not simulated
    "validity": frozenset({"DAY", "IOC"}),
}
REQUIRED = (
    "transactionType",
    "exchangeSegment",
    "productType",
    "orderType",
    "validity",
    "securityId",
    "quantity",
)


def on_grid(price: float, tick: float) -> bool:
    grid = TickGrid.of(tick)
    units = price * grid.scale
    return abs(units - round(units)) < 1e-6 and round(units) % grid.units == 0


def parse_order(body: dict) -> tuple[dict, str]:
    """An Order's fields from a place-order body, and why it must be rejected ('' if it
    need not be)."""
    text = {k: str(body.get(k) if body.get(k) is not None else "").strip().upper() for k in CHOICES}
    fields = {
        "segment": str(body.get("exchangeSegment") or "").strip().upper(),
        "security_id": str(body.get("securityId") or "").strip(),
        "transaction_type": text["transactionType"],
        "product_type": text["productType"],
        "order_type": text["orderType"],
        "validity": text["validity"],
        "quantity": _number(body.get("quantity"), int),
        "price": _number(body.get("price"), float),
        "trigger_price": _number(body.get("triggerPrice"), float),
        "correlation_id": str(body.get("correlationId") or ""),
        "trading_symbol": str(body.get("tradingSymbol") or ""),
    }
    return fields, _rejection(body, fields, text)


def _rejection(body: dict, fields: dict, text: dict) -> str:
    missing = [k for k in REQUIRED if body.get(k) in (None, "")]
    if missing:
        return f"missing {', '.join(missing)}"
    if fields["segment"] not in ORDER_SEGMENTS:
        return f"unknown exchangeSegment {fields['segment']!r}"
    if not fields["security_id"].isdigit():
        return f"invalid securityId {fields['security_id']!r}"
    for name, allowed in CHOICES.items():
        if text[name] not in allowed:
            return f"unsupported {name} {text[name]!r}"
    if fields["quantity"] <= 0:
        return "quantity must be a positive whole number"
    if fields["order_type"] == "LIMIT" and fields["price"] <= 0:
        return "a LIMIT order needs a price above 0"
    return ""


def _number(value: object, kind: type) -> int | float:
    """DhanHQ's bodies carry numbers, or numeric strings; anything else is 0 (or -1 for a
    quantity that is not a whole number, which rejects it)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return kind(0)
    if not math.isfinite(number):
        return -1 if kind is int else 0.0
    if kind is int:
        return int(number) if number.is_integer() else -1
    return number
