"""Delivering a firing: to the owner's browsers at once (`alert_triggered`, on the user's
push path: `prices.userpush.push_to_user`, kind "alert"), and by email and webhook
through Celery tasks (`alerts.tasks`), which retry. Each event's three deliveries
are started apart: one failing (a push, a broker that refuses the task) costs only itself,
and a webhook that could not be queued is marked `failed` on its event, not left pending."""

from __future__ import annotations

import logging

from django.utils import timezone

from alerts.models import AlertEvent
from prices.userpush import push_to_user

logger = logging.getLogger(__name__)

NOT_QUEUED = "not queued"  # an event's webhook outcome when its task could not be queued


def browser_message(event: AlertEvent) -> dict:
    """The contract's `alert_triggered` for one firing."""
    from alerts.api import event_json

    return {"type": "alert_triggered", "event": event_json(event)}


def notify(events: list[AlertEvent]) -> None:
    """Called by the evaluator with the events it stored (blocking is fine there)."""
    from alerts.tasks import deliver_webhook, send_alert_email

    for event in events:
        try:
            push_to_user(event.alert.user_id, kind="alert", message=browser_message(event))
        except Exception:  # a browser push failing must not lose the email or webhook
            logger.exception("alert %s: browser push failed", event.alert_id)
        try:
            if event.alert.user.email:
                send_alert_email.delay(event.pk)
        except Exception:  # a broker refusing the email must not lose the webhook
            logger.exception("alert %s: email not queued", event.alert_id)
        if event.webhook == AlertEvent.Delivery.PENDING:
            try:
                deliver_webhook.delay(event.pk)
            except Exception:  # nothing would ever retry it: say so on the event
                logger.exception("alert %s: webhook not queued", event.alert_id)
                _webhook_not_queued(event)


def _webhook_not_queued(event: AlertEvent) -> None:
    """Called by `notify` when a webhook's task could not be queued: the event shows it
    `failed`, with a coarse outcome as the webhook task records its tries (the why is in
    the log)."""
    attempt = {"at": timezone.now().isoformat(), "outcome": NOT_QUEUED}
    fresh = AlertEvent.objects.filter(pk=event.pk, webhook=AlertEvent.Delivery.PENDING).first()
    if fresh is not None:  # else an eager task got further than the queueing said
        fresh.webhook = AlertEvent.Delivery.FAILED
        fresh.attempts = [*fresh.attempts, attempt]
        fresh.save(update_fields=["webhook", "attempts"])
