"""Delivering a firing: to the owner's browsers at once (`alert_triggered`, through the
user's group that each of their signed-in sockets' web process joins), and by email and
webhook through Celery tasks (`alerts.tasks`), which retry."""

from __future__ import annotations

import json
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from alerts.models import AlertEvent

logger = logging.getLogger(__name__)

ALERT_EVENT_TYPE = "alert.event"  # handled by alerts.consumers.AlertNotifications


def user_group(user_id: int) -> str:
    return f"user_{user_id}"


def browser_message(event: AlertEvent) -> str:
    from alerts.api import event_json

    return json.dumps(
        {"type": "alert_triggered", "event": event_json(event)}, separators=(",", ":")
    )


def notify(events: list[AlertEvent]) -> None:
    """Called by the evaluator with the events it stored (blocking is fine there)."""
    from alerts.tasks import deliver_webhook, send_alert_email

    layer = get_channel_layer()
    for event in events:
        user_id = event.alert.user_id
        try:
            async_to_sync(layer.group_send)(
                user_group(user_id),
                {"type": ALERT_EVENT_TYPE, "user_id": user_id, "text": browser_message(event)},
            )
        except Exception:  # a browser push failing must not lose the email or webhook
            logger.exception("alert %s: browser push failed", event.alert_id)
        if event.alert.user.email:
            send_alert_email.delay(event.pk)
        if event.webhook == AlertEvent.Delivery.PENDING:
            deliver_webhook.delay(event.pk)
