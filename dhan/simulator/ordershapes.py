"""An order of the simulator (`orders.Order`) in DhanHQ's two shapes: a row of the REST
order book (`GET /v2/orders`) and an `order_alert` message of the order-update socket.

The alert copies two of DhanHQ's quirks, which clients must survive: `Status` is in title
case for cancelled and traded orders ("Cancelled", "Traded", as the docs' sample) and in
upper case otherwise, and `Data` carries the `Remarks` key twice (first "NR", then the real
remark, as the docs' sample; `json.loads` keeps the last), so the text is built by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from dhan.simulator.orders import CANCELLED, TRADED, Order

IST = timezone(timedelta(hours=5, minutes=30))
NO_TIME = "0001-01-01 00:00:00"
TITLE_CASE_STATUSES = frozenset({CANCELLED, TRADED})
EXCHANGE_AND_SEGMENT = {
    "NSE_EQ": ("NSE", "E"),
    "NSE_FNO": ("NSE", "D"),
    "NSE_CURRENCY": ("NSE", "C"),
    "BSE_EQ": ("BSE", "E"),
    "BSE_FNO": ("BSE", "D"),
    "BSE_CURRENCY": ("BSE", "C"),
    "MCX_COMM": ("MCX", "M"),
}
PRODUCT_CODES = {"CNC": "C", "INTRADAY": "I", "MARGIN": "M", "MTF": "F", "CO": "V", "BO": "B"}
ORDER_TYPE_CODES = {"LIMIT": "LMT", "MARKET": "MKT", "STOP_LOSS": "SL", "STOP_LOSS_MARKET": "SLM"}


def ist(epoch: float) -> str:
    """DhanHQ's time strings: IST, `YYYY-MM-DD HH:MM:SS`."""
    if not epoch:
        return NO_TIME
    return datetime.fromtimestamp(epoch, UTC).astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


def book_row(order: Order) -> dict:
    """The order as a row of `GET /v2/orders` (and the answer of `GET /v2/orders/{id}`)."""
    return {
        "dhanClientId": order.client_id,
        "orderId": order.order_id,
        "exchangeOrderId": order.exchange_order_id,
        "correlationId": order.correlation_id,
        "orderStatus": order.status,
        "transactionType": order.transaction_type,
        "exchangeSegment": order.segment,
        "productType": order.product_type,
        "orderType": order.order_type,
        "validity": order.validity,
        "tradingSymbol": order.trading_symbol,
        "securityId": order.security_id,
        "quantity": order.quantity,
        "disclosedQuantity": 0,
        "price": order.price,
        "triggerPrice": order.trigger_price,
        "afterMarketOrder": False,
        "boProfitValue": 0.0,
        "boStopLossValue": 0.0,
        "legName": "",
        "createTime": ist(order.created),
        "updateTime": ist(order.updated),
        "exchangeTime": ist(order.exchange_time),
        "drvExpiryDate": NO_TIME,
        "drvOptionType": None,
        "drvStrikePrice": 0.0,
        "omsErrorCode": order.error_code,
        "omsErrorDescription": order.reason if order.error_code else "",
        "algoId": "0",
        "remainingQuantity": order.remaining,
        "averageTradedPrice": order.average_price,
        "filledQty": order.filled,
    }


def alert_status(status: str) -> str:
    """`Status` as the order alert spells it: "Cancelled", "Traded"; "PENDING"..."""
    return status.title() if status in TITLE_CASE_STATUSES else status


def alert_data(order: Order) -> dict:
    """`Data` of the order alert, but for the second `Remarks` (see `alert_text`)."""
    # long function: one flat literal, DhanHQ's fields in the order of its sample message.
    exchange, segment = EXCHANGE_AND_SEGMENT.get(order.segment, ("", ""))
    return {
        "Exchange": exchange,
        "Segment": segment,
        "Source": "P",
        "SecurityId": order.security_id,
        "ClientId": order.client_id,
        "ExchOrderNo": order.exchange_order_id,
        "OrderNo": order.order_id,
        "Product": PRODUCT_CODES.get(order.product_type, order.product_type),
        "TxnType": order.transaction_type[:1],
        "OrderType": ORDER_TYPE_CODES.get(order.order_type, order.order_type),
        "Validity": order.validity,
        "DiscQuantity": 0,
        "DiscQtyRem": 0,
        "RemainingQuantity": order.remaining,
        "Quantity": order.quantity,
        "TradedQty": order.filled,
        "Price": order.price,
        "TriggerPrice": order.trigger_price,
        "TradedPrice": order.traded_price,
        "AvgTradedPrice": order.average_price,
        "OffMktFlag": "0",
        "OrderDateTime": ist(order.created),
        "ExchOrderTime": ist(order.exchange_time),
        "LastUpdatedTime": ist(order.updated),
        "Remarks": "NR",
        "MktType": "NL",
        "ReasonDescription": order.reason if order.error_code else "CONFIRMED",
        "LegNo": 1,
        "Instrument": "EQUITY" if order.segment.endswith("_EQ") else "",
        "Symbol": order.trading_symbol,
        "ProductName": order.product_type,
        "Status": alert_status(order.status),
        "LotSize": 1,
        "ExpiryDate": NO_TIME,
        "OptType": "XX",
        "DisplayName": order.trading_symbol,
        "Isin": "",
        "Series": "EQ" if order.segment.endswith("_EQ") else "",
        "GoodTillDaysDate": ist(order.created)[:10],
        "RefLtp": order.ref_ltp,
        "TickSize": order.tick,
        "AlgoId": "0",
        "Multiplier": 1,
        "CorrelationId": order.correlation_id,
    }


def alert_text(order: Order) -> str:
    """The whole `order_alert` message, `Remarks` twice in `Data`: "NR", then the order's
    remark (why it was rejected, cancelled or expired; empty otherwise)."""
    data = json.dumps(alert_data(order))
    data = f"{data[:-1]}, {json.dumps('Remarks')}: {json.dumps(order.reason)}}}"
    return f'{{"Data": {data}, "Type": "order_alert"}}'
