"""Orders as DhanHQ told them (the live order socket and the REST order book), per broker
account, and each change as an event: `new`, `status_change`, `partial_fill` (with the
newly traded quantity), `traded`, `rejected` (with the reason), `cancelled`, `expired`.
The raw message is kept on each event. An event is stored once (`dedupe_key`), so the
socket and the REST sync telling the same change make one event."""

from __future__ import annotations

from django.db import models

from accounts.models import BrokerAccount


class Order(models.Model):
    account = models.ForeignKey(BrokerAccount, on_delete=models.CASCADE, related_name="orders")
    order_no = models.CharField(max_length=40)
    status = models.CharField(max_length=20)
    symbol = models.CharField(max_length=64, blank=True)
    side = models.CharField(max_length=4, blank=True, help_text="B or S")
    order_type = models.CharField(max_length=8, blank=True)
    quantity = models.PositiveIntegerField(default=0)
    traded_qty = models.PositiveIntegerField(default=0)
    price = models.FloatField(null=True, blank=True)
    avg_price = models.FloatField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    fields = models.JSONField(default=dict, help_text="every field DhanHQ sent, as sent")
    placed_at = models.CharField(max_length=32, blank=True, help_text="IST, as DhanHQ sends")
    updated_at = models.CharField(max_length=32, blank=True, help_text="IST, as DhanHQ sends")
    trade_date = models.DateField(db_index=True)
    received_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-trade_date", "-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "order_no"], name="one_row_per_order")
        ]

    def __str__(self) -> str:
        return f"{self.order_no} {self.status}"


class OrderEvent(models.Model):
    class Kind(models.TextChoices):
        NEW = "new"
        STATUS_CHANGE = "status_change"
        PARTIAL_FILL = "partial_fill"
        TRADED = "traded"
        REJECTED = "rejected"
        CANCELLED = "cancelled"
        EXPIRED = "expired"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=20)
    filled_qty = models.PositiveIntegerField(default=0, help_text="newly traded")
    reason = models.CharField(max_length=300, blank=True)
    dedupe_key = models.CharField(max_length=64)
    source = models.CharField(max_length=8, default="socket", help_text="socket or rest")
    raw = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "dedupe_key"], name="one_event_per_change")
        ]
