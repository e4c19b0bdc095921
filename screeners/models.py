"""Screener results: a run of a screener and its ranked rows; and the instruments a screener
type's stream carries (`latest_run_instruments`, the stream layer's source for every
screener type, registered by the project's wiring, `marketstream.apps`)."""

from django.db import models

from prices.models import Instrument


class ScreenerType(models.TextChoices):
    SWING = "swing", "Swing"
    LONGTERM = "longterm", "Long term"


class ScreenerRun(models.Model):
    screener_type = models.CharField(max_length=16, choices=ScreenerType.choices)
    computed_at = models.DateTimeField()
    notes = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-computed_at"]
        indexes = [models.Index(fields=["screener_type", "-computed_at"])]

    def __str__(self) -> str:
        return f"{self.screener_type} run at {self.computed_at:%Y-%m-%d %H:%M}"


class ScreenerResult(models.Model):
    run = models.ForeignKey(ScreenerRun, on_delete=models.CASCADE, related_name="results")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    rank = models.PositiveIntegerField()
    score = models.DecimalField(max_digits=8, decimal_places=2)
    # A few metrics the screener computed; prices in rupees, ratios as per cent.
    close_price = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    change_20d_pct = models.DecimalField(max_digits=8, decimal_places=2, null=True)
    rsi_14 = models.DecimalField(max_digits=6, decimal_places=2, null=True)
    volume_ratio = models.DecimalField(max_digits=8, decimal_places=2, null=True)

    class Meta:
        ordering = ["run", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["run", "rank"], name="unique_rank_per_run"),
            models.UniqueConstraint(fields=["run", "instrument"], name="unique_instrument_per_run"),
        ]

    def __str__(self) -> str:
        return f"#{self.rank} {self.instrument.trading_symbol}"


def latest_run_instruments(screener_type: str) -> list[Instrument]:
    """The instruments of `screener_type`'s latest run: what its stream (`type:swing`)
    carries. Called by the stream layer (`streams.sources`) as a stream is started or
    checked; raises LookupError when the type has no run yet."""
    run = ScreenerRun.objects.filter(screener_type=screener_type).first()
    if run is None:
        raise LookupError(f"no {screener_type} screener run to stream")
    results = ScreenerResult.objects.filter(run=run).select_related("instrument")
    return [r.instrument for r in results]
