"""Each broker account's holdings and positions as DhanHQ last told them (replaced as a
whole at every refresh), money in Decimal."""

from __future__ import annotations

from django.db import models

from accounts.models import BrokerAccount


class PortfolioLine(models.Model):
    account = models.ForeignKey(BrokerAccount, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=10)  # holding or position
    key = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64, blank=True)
    quantity = models.IntegerField()
    avg_cost = models.DecimalField(max_digits=16, decimal_places=4)
    realized = models.DecimalField(max_digits=18, decimal_places=4, default=0)
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["account", "kind", "symbol"]
