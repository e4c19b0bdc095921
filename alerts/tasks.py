"""Celery tasks delivering alert firings by email and by webhook. A webhook is POSTed by
`webhooks.delivery` (its target checked again, signed with the alert's secret,
`X-MarketStream-Event: <event id>` the same on every retry, no redirects followed) and
retried with exponential backoff for up to an hour; a target refused at delivery (it
resolves to an internal address now) is not retried. Every attempt is recorded on the
event: its time and coarse outcome (`delivered`, `refused` with the receiver's HTTP
status, `unreachable`, `blocked`)."""

from __future__ import annotations

import json
import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from alerts.api import event_json
from alerts.models import AlertEvent
from webhooks.delivery import deliver

logger = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 5
GIVE_UP_AFTER_SECONDS = 3600
MAX_RETRIES = 12  # 5 s doubling to 10 min: about an hour of tries


WEBHOOK_FIELDS = (
    "event_id", "alert_id", "key", "condition", "value", "previous_price", "price", "triggered_at",
)  # fmt: skip


def webhook_body(event: AlertEvent) -> bytes:
    """The event as the API shows it, less what only its owner sees (note, attempts)."""
    shown = event_json(event)
    return json.dumps({k: shown[k] for k in WEBHOOK_FIELDS}, separators=(",", ":")).encode()


def _record(event: AlertEvent, **attempt) -> None:
    event.attempts = [*event.attempts, {"at": timezone.now().isoformat(), **attempt}]


def _finish(event: AlertEvent, state: str) -> None:
    event.webhook = state
    event.save(update_fields=["attempts", "webhook"])


@shared_task(bind=True, name="alerts.deliver_webhook", ignore_result=True, max_retries=None)
def deliver_webhook(self, event_id: int) -> str:
    """Queued by `alerts.notify.notify` for a firing with a webhook; runs again on retry."""
    event = AlertEvent.objects.select_related("alert").filter(pk=event_id).first()
    if event is None or event.webhook != AlertEvent.Delivery.PENDING:
        return "nothing to deliver"
    alert = event.alert
    outcome = deliver(
        alert.webhook_url,
        webhook_body(event),
        secret=alert.webhook_secret,
        event_id=str(event.event_id),
    )
    _record(event, **outcome.attempt())
    if outcome.delivered:
        _finish(event, AlertEvent.Delivery.DELIVERED)
        return "delivered"
    if not outcome.worth_retrying:  # the target itself is refused: no retry makes it fine
        _finish(event, AlertEvent.Delivery.FAILED)
        logger.warning("alert %s: webhook blocked at delivery: %s", alert.pk, outcome.why)
        return "blocked"
    age = (timezone.now() - event.triggered_at).total_seconds()
    delay = min(RETRY_BASE_SECONDS * 2**self.request.retries, 600)
    if age + delay > GIVE_UP_AFTER_SECONDS or self.request.retries >= MAX_RETRIES:
        _finish(event, AlertEvent.Delivery.FAILED)
        last = outcome.status or outcome.why
        logger.warning(
            "alert %s: webhook given up after %d tries (last: %s %s)",
            alert.pk,
            len(event.attempts),
            outcome.result,
            last,
        )
        return "failed"
    event.save(update_fields=["attempts"])
    raise self.retry(countdown=delay * settings.ALERT_WEBHOOK_RETRY_SCALE)


@shared_task(name="alerts.send_alert_email", ignore_result=True)
def send_alert_email(event_id: int) -> None:
    event = AlertEvent.objects.select_related("alert__user").filter(pk=event_id).first()
    if event is None or not event.alert.user.email:
        return
    alert = event.alert
    send_mail(
        subject=f"MarketStream alert: {alert.key} {alert.condition} {alert.value}",
        message=(
            f"{alert.key} moved from {event.previous_price} to {event.price} "
            f"({alert.condition} {alert.value}) at {event.triggered_at:%H:%M:%S %Z}.\n"
            f"{alert.note}"
        ),
        from_email=None,
        recipient_list=[alert.user.email],
    )
