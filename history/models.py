"""The bar store's tables: closed bars (`1m` and `1d`; wider ones are resampled on read)
and what backfills have fetched, so a re-run fetches only what is missing."""

from django.db import models

PRICE_DIGITS = {"max_digits": 16, "decimal_places": 4}  # rupees; exact on every tick grid


class Bar(models.Model):
    """One closed bar of one instrument: written by the feed worker as minutes seal, by
    backfills from DhanHQ's history, and by the after-close job; upserted on (key,
    timeframe, start), so writing the same bar twice changes nothing."""

    TIMEFRAME_CHOICES = [("1m", "1 minute"), ("1d", "1 day")]

    key = models.CharField(max_length=32, help_text="SEGMENT:SECURITY_ID")
    timeframe = models.CharField(max_length=3, choices=TIMEFRAME_CHOICES)
    start = models.BigIntegerField(help_text="Unix seconds of the bar's start")
    open = models.DecimalField(**PRICE_DIGITS)
    high = models.DecimalField(**PRICE_DIGITS)
    low = models.DecimalField(**PRICE_DIGITS)
    close = models.DecimalField(**PRICE_DIGITS)
    volume = models.BigIntegerField()
    oi = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "timeframe", "start"], name="unique_bar")
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.timeframe} @{self.start}"


class FetchedRange(models.Model):
    """A range of days a backfill fetched from DhanHQ for one instrument and timeframe
    (whether or not it had bars: holidays have none): a re-run skips what is recorded."""

    key = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=3, choices=Bar.TIMEFRAME_CHOICES)
    first_day = models.DateField()
    last_day = models.DateField(help_text="inclusive")
    bars = models.PositiveIntegerField(default=0)
    fetched_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["key", "timeframe", "first_day"])]

    def __str__(self) -> str:
        return f"{self.key} {self.timeframe} {self.first_day}..{self.last_day}"
