"""`/ws/dashboard/`'s orders feature: `subscribe_orders` for a signed-in user (an ack,
`orders_snapshot` of today's orders, then `order_update` for each event of that user's
orders, once), `unsubscribe_orders`; anonymous clients get an `error`. The events come on
the user's push path (kind "order", sent by `orders.push`). Made per connection by the
composed consumer (`prices.composition`), which `marketstream.consumers` names it in."""

from __future__ import annotations

from datetime import datetime

from channels.db import database_sync_to_async

from orders.models import Order
from orders.push import order_json
from prices.calendar import IST
from prices.features import Feature, FeatureContext


@database_sync_to_async
def todays_orders(user_id: int) -> list[dict]:
    today = datetime.now(IST).date()
    rows = Order.objects.filter(account__user_id=user_id, trade_date=today).select_related(
        "account"
    )
    return [order_json(order) for order in rows]


class OrdersFeature(Feature):
    __slots__ = ("_held", "_subscribed")
    actions = frozenset({"subscribe_orders", "unsubscribe_orders"})
    user_event_kinds = frozenset({"order"})

    def __init__(self, context: FeatureContext) -> None:
        super().__init__(context)
        self._subscribed = False
        self._held: list[str] | None = None  # events that came during the snapshot

    async def on_action(self, action: str, message: dict) -> None:
        """`subscribe_orders` or `unsubscribe_orders`, from the client."""
        if action == "unsubscribe_orders":
            self._subscribed = False
            await self.context.send({"type": "ack", "action": "unsubscribe_orders"})
            return
        user_id = self.context.user_id
        if user_id is None:
            await self.context.error("sign in to get order updates")
            return
        # The connection gets its user's events since it opened: from here each order
        # event is sent, or held while the snapshot is read and sent after it.
        self._subscribed = True
        self._held = []
        try:
            orders = await todays_orders(user_id)
        finally:
            held, self._held = self._held, None
        await self.context.send({"type": "ack", "action": "subscribe_orders", "count": len(orders)})
        await self.context.send({"type": "orders_snapshot", "orders": orders})
        for text in held:
            await self.context.send_text(text)

    async def on_user_event(self, kind: str, text: str) -> None:
        """An `order_update` of the user's: to the client while it is subscribed."""
        if not self._subscribed:
            return
        if self._held is not None:
            self._held.append(text)
            return
        await self.context.send_text(text)
