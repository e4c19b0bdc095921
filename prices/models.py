"""Instruments from DhanHQ's scrip master: what the feed can subscribe to."""

from django.db import models

from dhan.segments import SEGMENT_CODES, InstrumentKey


class Instrument(models.Model):
    SEGMENT_CHOICES = [(name, name) for name in SEGMENT_CODES]

    exchange_segment = models.CharField(max_length=16, choices=SEGMENT_CHOICES)
    security_id = models.PositiveBigIntegerField()
    exchange = models.CharField(max_length=8)
    trading_symbol = models.CharField(max_length=64, db_index=True)
    name = models.CharField(max_length=200, blank=True)
    instrument_type = models.CharField(max_length=32)
    series = models.CharField(max_length=8, blank=True)
    tick_size = models.DecimalField(max_digits=12, decimal_places=4, help_text="rupees")
    lot_size = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["exchange_segment", "security_id"], name="unique_instrument_key"
            )
        ]
        ordering = ["exchange_segment", "trading_symbol"]

    def __str__(self) -> str:
        return f"{self.trading_symbol} ({self.key})"

    @property
    def key(self) -> str:
        return f"{self.exchange_segment}:{self.security_id}"

    @property
    def instrument_key(self) -> InstrumentKey:
        return InstrumentKey(SEGMENT_CODES[self.exchange_segment], self.security_id)
