"""Recording what DhanHQ says about orders: one function for the live socket's alerts and
the REST order book's rows, so the same change told by both is one event. Returns the
events that are new (the ones to push)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction

from accounts.models import BrokerAccount
from dhan.orders import FINAL_STATUSES, OrderAlert, alert_from_fields, classify
from orders.models import Order, OrderEvent
from prices.calendar import IST

logger = logging.getLogger(__name__)


def _float(value: object) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _is_stale(previous: OrderAlert | None, alert: OrderAlert) -> bool:
    """An alert older than what we hold (REST answering after the socket, a redelivery)."""
    if previous is None:
        return False
    if previous.status in FINAL_STATUSES and alert.status not in FINAL_STATUSES:
        return True
    return alert.traded_qty < previous.traded_qty


def _apply(order: Order, alert: OrderAlert) -> None:
    data = alert.data
    fields = {**order.fields, **{k: v for k, v in data.items() if not k.startswith("_")}}
    order.fields = fields
    order.status = alert.status
    order.symbol = str(fields.get("DisplayName") or fields.get("Symbol") or order.symbol)[:64]
    order.side = str(fields.get("TxnType") or order.side)[:4]
    order.order_type = str(fields.get("OrderType") or order.order_type)[:8]
    order.quantity = alert.quantity or order.quantity
    order.traded_qty = alert.traded_qty
    order.price = _float(fields.get("Price"))
    order.avg_price = _float(fields.get("AvgTradedPrice"))
    order.reason = alert.reason[:300] or order.reason
    order.placed_at = str(fields.get("OrderDateTime") or order.placed_at)[:32]
    order.updated_at = alert.updated[:32] or order.updated_at


def record(account: BrokerAccount, alert: OrderAlert, *, source: str) -> OrderEvent | None:
    """Store `alert`; the new event, or None when it told nothing new."""
    with transaction.atomic():
        order = (
            Order.objects.select_for_update()
            .filter(account=account, order_no=alert.order_no)
            .first()
        )
        previous = alert_from_fields(order.fields) if order and order.fields else None
        if _is_stale(previous, alert):
            return None
        if (
            order is not None
            and OrderEvent.objects.filter(order=order, dedupe_key=alert.dedupe_key).exists()
        ):
            return None
        kind, newly = classify(previous, alert)
        order = order or Order(
            account=account, order_no=alert.order_no, trade_date=datetime.now(IST).date()
        )
        _apply(order, alert)
        order.save()
        try:
            with transaction.atomic():
                return OrderEvent.objects.create(
                    order=order,
                    kind=kind,
                    status=alert.status,
                    filled_qty=newly,
                    reason=alert.reason[:300] if kind == "rejected" else "",
                    dedupe_key=alert.dedupe_key,
                    source=source,
                    raw=alert.data,
                )
        except IntegrityError:  # another writer recorded the same change first
            return None


def record_all(
    account: BrokerAccount, alerts: Iterable[OrderAlert], *, source: str
) -> list[OrderEvent]:
    events = []
    for alert in alerts:
        event = record(account, alert, source=source)
        if event is not None:
            events.append(event)
    return events
