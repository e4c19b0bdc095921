"""Order events to their owner's browsers: each event stored (`ingest.record`) is sent
once, as an `order_update`, on the user's push path (`prices.userpush.push_to_user`, kind
"order"): each of the user's sockets gets it exactly once, whatever the number of web
processes. `announce` is called by the order connection (its `orderfeed` kind);
`order_json` is also the ORDER of the orders API and of the socket's snapshot."""

from __future__ import annotations

from dhan.orders import instrument_key, iso_time, side_name
from orders.models import Order, OrderEvent
from prices.userpush import push_to_user


def order_json(order: Order) -> dict:
    """An ORDER as clients see it (the contract's shape): the client id, never a token."""
    fields = order.fields
    return {
        "order_no": order.order_no,
        "exchange_order_no": str(fields.get("ExchOrderNo") or "") or None,
        "client_id": order.account.client_id,
        "key": instrument_key(fields),
        "symbol": order.symbol,
        "side": side_name(order.side),
        "order_type": order.order_type,
        "product": fields.get("Product"),
        "quantity": order.quantity,
        "traded_qty": order.traded_qty,
        "avg_traded_price": order.avg_price,
        "price": order.price,
        "trigger_price": fields.get("TriggerPrice"),
        "status": order.status,
        "reason": order.reason,
        "updated_at": iso_time(order.updated_at),
    }


def update_message(event: OrderEvent) -> dict:
    """The contract's `order_update` for one stored event."""
    return {
        "type": "order_update",
        "event_id": event.pk,
        "event": event.kind,
        "filled_qty": event.filled_qty,
        "reason": event.reason,
        "order": order_json(event.order),
    }


def announce(events: list[OrderEvent]) -> None:
    """Called on the order connection's writer thread (blocking is fine there)."""
    for event in events:
        push_to_user(event.order.account.user_id, kind="order", message=update_message(event))
