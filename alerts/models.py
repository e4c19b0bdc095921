"""Price alerts and their firings (API tokens, once here, are `accounts.models.ApiToken`).

An alert watches one instrument (`key`): a condition on its price (`above`, `below`,
`crosses_up`, `crosses_down`, `crosses`) or on its change from the previous close
(`change_pct_above`, `change_pct_below`), fired `once` or `every_time` (after its
cooldown), until it expires. Each firing is an `AlertEvent`, stored once (the evaluator's
conditional update is the guard: two evaluators, or a restart, cannot fire it twice), and
delivered: to the owner's browsers, by email and by webhook (retried with the same event
id; every attempt is recorded on the event). An alert that cannot be judged or fired is set
aside in `error`, with the reason shown to its owner; the others are judged as ever.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from accounts import crypto

CONDITIONS = (
    "above",
    "below",
    "crosses_up",
    "crosses_down",
    "crosses",
    "change_pct_above",
    "change_pct_below",
)
PCT_CONDITIONS = frozenset({"change_pct_above", "change_pct_below"})
ERROR_REASON_MAX_CHARS = 300


class Alert(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        TRIGGERED = "triggered"  # a spent `once` alert
        EXPIRED = "expired"
        ERROR = "error"  # could not be judged or fired: out of evaluation, reason kept

    class Frequency(models.TextChoices):
        ONCE = "once"
        EVERY_TIME = "every_time"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alerts"
    )
    key = models.CharField(max_length=32, db_index=True, help_text="SEG:SID")
    condition = models.CharField(max_length=20, choices=[(c, c) for c in CONDITIONS])
    value = models.DecimalField(max_digits=14, decimal_places=4, help_text="a price, or a %")
    frequency = models.CharField(max_length=12, choices=Frequency.choices, default="once")
    cooldown_seconds = models.PositiveIntegerField(default=60)
    expires_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret_encrypted = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default="active", db_index=True
    )
    error_reason = models.CharField(
        max_length=ERROR_REASON_MAX_CHARS, blank=True, help_text="why it is in error"
    )
    # The price when the alert was made: a crossing before that is not its crossing.
    created_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    fire_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.key} {self.condition} {self.value}"

    def set_webhook_secret(self, secret: str) -> None:
        self.webhook_secret_encrypted = crypto.encrypt_optional(secret)

    @property
    def webhook_secret(self) -> str:
        return crypto.decrypt_optional(self.webhook_secret_encrypted)


class AlertEvent(models.Model):
    class Delivery(models.TextChoices):
        NONE = "none"  # no webhook
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # gave up after an hour of retries

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    previous_price = models.DecimalField(max_digits=14, decimal_places=4)
    price = models.DecimalField(max_digits=14, decimal_places=4)
    value = models.DecimalField(max_digits=14, decimal_places=4)
    triggered_at = models.DateTimeField()
    webhook = models.CharField(max_length=10, choices=Delivery.choices, default="none")
    attempts = models.JSONField(default=list, help_text="[{at, outcome, status}] per webhook try")

    class Meta:
        ordering = ["-triggered_at"]


class EvaluatorMark(models.Model):
    """The last price the evaluator judged an instrument's alerts against, kept so that a
    restarted (or new leading) evaluator judges the move since then: a crossing that
    happened while none ran is caught up, once."""

    key = models.CharField(max_length=32, primary_key=True)
    price = models.FloatField()
    at = models.DateTimeField()
