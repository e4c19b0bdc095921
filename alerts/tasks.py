"""Celery tasks delivering alert firings by email and by webhook. A webhook is POSTed with
a JSON body, `X-MarketStream-Signature: sha256=<HMAC-SHA256 of the raw body with the
alert's secret>` and `X-MarketStream-Event: <event id>` (the same on every retry), and
retried with exponential backoff for up to an hour; every attempt is recorded on the
event (its time, HTTP status or error)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import requests
from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from alerts.api import event_json
from alerts.models import AlertEvent

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 10
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


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _record(event: AlertEvent, **attempt) -> None:
    event.attempts = [*event.attempts, {"at": timezone.now().isoformat(), **attempt}]


@shared_task(bind=True, name="alerts.deliver_webhook", ignore_result=True, max_retries=None)
def deliver_webhook(self, event_id: int) -> str:
    event = AlertEvent.objects.select_related("alert").filter(pk=event_id).first()
    if event is None or event.webhook != AlertEvent.Delivery.PENDING:
        return "nothing to deliver"
    alert, body = event.alert, webhook_body(event)
    headers = {
        "Content-Type": "application/json",
        "X-MarketStream-Signature": signature(alert.webhook_secret, body),
        "X-MarketStream-Event": str(event.event_id),
    }
    try:
        response = requests.post(
            alert.webhook_url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS
        )
        ok, outcome = response.ok, {"status": response.status_code}
    except requests.RequestException as exc:
        ok, outcome = False, {"error": type(exc).__name__}
    _record(event, **outcome)
    if ok:
        event.webhook = AlertEvent.Delivery.DELIVERED
        event.save(update_fields=["attempts", "webhook"])
        return "delivered"
    age = (timezone.now() - event.triggered_at).total_seconds()
    delay = min(RETRY_BASE_SECONDS * 2**self.request.retries, 600)
    if age + delay > GIVE_UP_AFTER_SECONDS or self.request.retries >= MAX_RETRIES:
        event.webhook = AlertEvent.Delivery.FAILED
        event.save(update_fields=["attempts", "webhook"])
        logger.warning("alert %s: webhook given up after %d tries", alert.pk, len(event.attempts))
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
