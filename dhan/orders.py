"""DhanHQ's live order updates as pure functions: the login message, the tolerant parse
of `order_alert` messages (any status case, unknown fields kept, the repeated `Remarks`
key), the REST order book's rows in the same shape, and what each change means
(`classify`). No I/O: the socket is `dhan.orderclient`, storage the `orders` app.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# DhanHQ's statuses (the order-update page, the annexure and Super Orders).
TRANSIT, PENDING, PART_TRADED, TRADED = "TRANSIT", "PENDING", "PART_TRADED", "TRADED"
REJECTED, CANCELLED, EXPIRED = "REJECTED", "CANCELLED", "EXPIRED"
FINAL_STATUSES = frozenset({TRADED, REJECTED, CANCELLED, EXPIRED, "CLOSED"})

# What a change means for a user (the `kind` of an order event).
NEW, STATUS_CHANGE, PARTIAL_FILL = "new", "status_change", "partial_fill"
KIND_OF_STATUS = {
    TRADED: "traded",
    REJECTED: "rejected",
    CANCELLED: "cancelled",
    EXPIRED: "expired",
}
# The order-book fields of `GET /v2/orders`, as the order alert names them.
REST_FIELDS = {
    "orderId": "OrderNo",
    "exchangeOrderId": "ExchOrderNo",
    "orderStatus": "Status",
    "transactionType": "TxnType",
    "exchangeSegment": "Segment",
    "productType": "Product",
    "orderType": "OrderType",
    "validity": "Validity",
    "tradingSymbol": "Symbol",
    "securityId": "SecurityId",
    "quantity": "Quantity",
    "remainingQuantity": "RemainingQuantity",
    "filledQty": "TradedQty",
    "price": "Price",
    "triggerPrice": "TriggerPrice",
    "averageTradedPrice": "AvgTradedPrice",
    "createTime": "OrderDateTime",
    "updateTime": "LastUpdatedTime",
    "omsErrorDescription": "ReasonDescription",
    "correlationId": "CorrelationId",
}


class OrderMessageError(ValueError):
    """A message that is not a usable order update."""


class LoginRefused(Exception):
    """The order socket refused our login (an invalid or expired token)."""


def login_message(client_id: str, access_token: str) -> str:
    """The first frame on the order socket. It carries the token: never log it."""
    return json.dumps(
        {
            "LoginReq": {"MsgCode": 42, "ClientId": client_id, "Token": access_token},
            "UserType": "SELF",
        }
    )


@dataclass(frozen=True, slots=True)
class OrderAlert:
    """One order's state as DhanHQ last told it (alert or REST row), fields as sent."""

    order_no: str
    status: str  # upper case
    traded_qty: int
    quantity: int
    updated: str  # LastUpdatedTime, IST "YYYY-MM-DD HH:MM:SS"
    reason: str
    data: dict = field(default_factory=dict, compare=False)

    @property
    def dedupe_key(self) -> str:
        """Equal for the same change told twice (by the socket and by REST, say)."""
        return f"{self.status}|{self.traded_qty}"


def _pairs(pairs: list[tuple[str, object]]) -> dict:
    """json object hook: a repeated key (DhanHQ repeats `Remarks`) keeps every value."""
    out: dict = {}
    for key, value in pairs:
        if key in out and key == "Remarks":
            previous = out[key] if isinstance(out[key], list) else [out[key]]
            out[key] = [*previous, value]
        else:
            out[key] = value
    return out


def _int(value: Any) -> int:  # a JSON value
    try:
        return int(float(value))  # DhanHQ sends numbers, and sometimes numeric strings
    except (TypeError, ValueError):
        return 0


def alert_from_fields(data: dict) -> OrderAlert:
    order_no = str(data.get("OrderNo") or "").strip()
    status = str(data.get("Status") or "").strip().upper().replace(" ", "_")
    if not order_no or not status:
        raise OrderMessageError("an order update needs OrderNo and Status")
    return OrderAlert(
        order_no=order_no,
        status=status,
        traded_qty=_int(data.get("TradedQty")),
        quantity=_int(data.get("Quantity")),
        updated=str(data.get("LastUpdatedTime") or ""),
        reason=str(data.get("ReasonDescription") or data.get("OmsErrorDescription") or ""),
        data=data,
    )


def parse_message(text: str | bytes) -> OrderAlert | None:
    """An `order_alert` message's alert; None for other message types. Raises
    LoginRefused for an error message (the login failed) and OrderMessageError for
    anything malformed."""
    try:
        message = json.loads(text, object_pairs_hook=_pairs)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OrderMessageError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise OrderMessageError("not a JSON object")
    kind = str(message.get("Type", "")).lower()
    if kind == "error":
        data = message.get("Data")
        if not isinstance(data, dict):
            data = {}
        raise LoginRefused(f"order socket refused the login: {data.get('ErrorCode', '?')}")
    if kind != "order_alert":
        return None
    data = message.get("Data")
    if not isinstance(data, dict):
        raise OrderMessageError("order_alert without a Data object")
    return alert_from_fields(data)


def alert_from_rest(row: dict) -> OrderAlert:
    """A row of `GET /v2/orders` as an alert (REST's field names mapped)."""
    data = {
        alert_name: row[rest_name]
        for rest_name, alert_name in REST_FIELDS.items()
        if rest_name in row
    }
    return alert_from_fields({**data, "_source": "rest"})


def classify(previous: OrderAlert | None, alert: OrderAlert) -> tuple[str, int]:
    """What `alert` means after `previous` (None: the first we hear of the order):
    (kind, newly traded quantity)."""
    traded_before = previous.traded_qty if previous else 0
    newly = max(alert.traded_qty - traded_before, 0)
    if alert.status in KIND_OF_STATUS:
        return KIND_OF_STATUS[alert.status], newly
    if alert.status == PART_TRADED or (newly and alert.status != TRADED):
        return PARTIAL_FILL, newly
    if previous is None:
        return NEW, 0
    return STATUS_CHANGE, newly


# The order alert's Exchange and Segment letters (E equity, D derivatives, C currency, M
# commodity) as our segment names; REST rows already carry the name.
_SEGMENT_NAMES = {
    ("NSE", "E"): "NSE_EQ",
    ("BSE", "E"): "BSE_EQ",
    ("NSE", "D"): "NSE_FNO",
    ("BSE", "D"): "BSE_FNO",
    ("NSE", "C"): "NSE_CURRENCY",
    ("BSE", "C"): "BSE_CURRENCY",
    ("MCX", "M"): "MCX_COMM",
}


def instrument_key(fields: dict) -> str | None:
    """`SEG:SID` of an order's instrument, or None when the fields do not say."""
    segment = str(fields.get("Segment") or "")
    name = segment if "_" in segment else _SEGMENT_NAMES.get((str(fields.get("Exchange")), segment))
    security_id = str(fields.get("SecurityId") or "").strip()
    return f"{name}:{security_id}" if name and security_id.isdigit() else None


def side_name(value: object) -> str:
    text = str(value or "").upper()
    return {"B": "BUY", "S": "SELL"}.get(text, text)


def iso_time(text: str) -> str | None:
    """DhanHQ's IST `YYYY-MM-DD HH:MM:SS` as ISO-8601 with the offset."""
    text = str(text or "").strip()
    if len(text) != 19 or text.startswith("0001"):
        return None
    return text.replace(" ", "T") + "+05:30"
