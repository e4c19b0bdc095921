"""`/ws/dashboard/` with order updates: the prices consumer plus `subscribe_orders` for a
signed-in user (an ack, `orders_snapshot` of today's orders, then `order_update` for each
event of that user's orders, once). Anonymous clients get an `error`. Composed with the
alerts and portfolio mixins in `marketstream.consumers`, which `/ws/dashboard/` routes to."""

from __future__ import annotations

from datetime import datetime

from channels.db import database_sync_to_async

from orders.models import Order
from orders.push import order_json, user_group
from prices.calendar import IST
from prices.consumers import DashboardConsumer as PricesConsumer


@database_sync_to_async
def todays_orders(user_id: int) -> list[dict]:
    today = datetime.now(IST).date()
    rows = Order.objects.filter(account__user_id=user_id, trade_date=today).select_related(
        "account"
    )
    return [order_json(order) for order in rows]


class DashboardConsumer(PricesConsumer):
    async def connect(self) -> None:
        self.orders_user: int | None = None
        self._orders_held: list[str] | None = None  # events that came during the snapshot
        await super().connect()

    async def on_action(self, action: object, message: dict) -> bool:
        if action == "subscribe_orders":
            await self._subscribe_orders()
        elif action == "unsubscribe_orders":
            await self._unsubscribe_orders()
            await self._send({"type": "ack", "action": "unsubscribe_orders"})
        else:
            return await super().on_action(action, message)
        return True

    async def _subscribe_orders(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._error("sign in to get order updates")
            return
        if self.orders_user is None:
            self.orders_user = user.pk
            await self.live.fanout.add_group(user_group(user.pk))  # join first
        self._orders_held = []
        try:
            orders = await todays_orders(user.pk)  # snapshot second
        finally:
            held, self._orders_held = self._orders_held, None
        await self._send({"type": "ack", "action": "subscribe_orders", "count": len(orders)})
        await self._send({"type": "orders_snapshot", "orders": orders})
        for text in held:
            await self.send(text_data=text)

    async def _unsubscribe_orders(self) -> None:
        if self.orders_user is not None:
            user, self.orders_user = self.orders_user, None
            await self.live.fanout.discard_group(user_group(user))

    async def order_event(self, event: dict) -> None:
        """From the fan-out: an event of some user whose group this process is in."""
        if self.orders_user is None or event.get("user_id") != self.orders_user:
            return
        if self._orders_held is not None:
            self._orders_held.append(event["text"])
            return
        await self.send(text_data=event["text"])

    async def disconnect(self, code: int) -> None:
        await self._unsubscribe_orders()
        await super().disconnect(code)
