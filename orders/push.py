"""Order events to their owner's browsers: one `group_send` per event to the user's group
`order_updates_<user id>`, which each web process's fan-out joins while one of its
clients of that user listens (`orders.consumers`). Stored once (`ingest.record`), sent
once: each of the user's sockets gets each event exactly once, whatever the number of web
processes."""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from dhan.orders import instrument_key, iso_time, side_name
from orders.models import Order, OrderEvent

ORDER_EVENT_TYPE = "order.event"  # handled by orders.consumers.DashboardConsumer.order_event


def user_group(user_id: int) -> str:
    return f"order_updates_{user_id}"


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


def update_message(event: OrderEvent) -> str:
    return json.dumps(
        {
            "type": "order_update",
            "event_id": event.pk,
            "event": event.kind,
            "filled_qty": event.filled_qty,
            "reason": event.reason,
            "order": order_json(event.order),
        },
        separators=(",", ":"),
    )


def announce(events: list[OrderEvent]) -> None:
    """Called on the order connection's writer thread (blocking is fine there)."""
    if not events:
        return
    layer = get_channel_layer()
    for event in events:
        user_id = event.order.account.user_id
        async_to_sync(layer.group_send)(
            user_group(user_id),
            {"type": ORDER_EVENT_TYPE, "user_id": user_id, "text": update_message(event)},
        )
