"""Screens, their runs and the notices of their new entrants.

A `Screen` is data: a condition in the screen language (`screeners.language`), columns and
a rank, a universe, a schedule and who to tell about new entrants. A shared screen has no
owner (staff edit it: the shipped `swing` and `longterm`); any other belongs to one user.
Each run (`ScreenRun`) is stored with its ranked rows (`ScreenRow`) and the keys that
entered and left against the screen's previous run; a run with entrants stores one
`ScreenNotice` per channel in the same transaction, so each entrant is told once per channel
whatever restarts and retries happen. Also here: the instruments a screen's stream carries
(`latest_run_instruments`, registered with the stream layer by `marketstream.apps`).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts import crypto
from prices.models import Instrument

SCHEDULE_MINUTES = (1, 5, 15, 30, 60)
SCHEDULE_LABELS = {
    "manual": "on demand",
    "after_close": "after the close",
    **{f"every_{n}_minutes": f"every {n} min in market hours" for n in SCHEDULE_MINUTES},
}
SCHEDULES = tuple(SCHEDULE_LABELS)
WEBHOOK_FORMATS = ("marketstream", "chartink")
MAX_LIMIT = 500


class Screen(models.Model):
    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="screens",
        help_text="empty: a shared screen, which staff edit",
    )
    universe = models.TextField(help_text="segment:NSE_EQ, screener:SLUG or keys:K,K,...")
    timeframe = models.CharField(max_length=4, default="1d")
    condition = models.TextField()
    columns = models.JSONField(default=dict, help_text="{name: expression}")
    rank_by = models.TextField(blank=True)
    descending = models.BooleanField(default=True)
    limit = models.PositiveSmallIntegerField(default=100)
    schedule = models.CharField(
        max_length=20, default="manual", choices=list(SCHEDULE_LABELS.items())
    )
    # NOTIFY: on new entrants, by email and/or by webhook (its secret encrypted at rest).
    notify = models.BooleanField(default=False)
    notify_email = models.BooleanField(default=False)
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret_encrypted = models.TextField(blank=True)
    webhook_format = models.CharField(
        max_length=12, default="marketstream", choices=[(f, f) for f in WEBHOOK_FORMATS]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["owner_id", "name"]

    def __str__(self) -> str:
        return self.slug

    def set_webhook_secret(self, secret: str) -> None:
        self.webhook_secret_encrypted = crypto.encrypt_optional(secret)

    @property
    def webhook_secret(self) -> str:
        return crypto.decrypt_optional(self.webhook_secret_encrypted)

    @property
    def interval_minutes(self) -> int | None:
        """N of an `every_N_minutes` schedule, else None."""
        if not self.schedule.startswith("every_"):
            return None
        return int(self.schedule.split("_")[1])


class ScreenRun(models.Model):
    class Trigger(models.TextChoices):
        MANUAL = "manual"  # the page, the API, the admin, manage.py run_screen
        AFTER_CLOSE = "after_close"
        INTERVAL = "interval"  # every N minutes in market hours, on the forming bar

    class State(models.TextChoices):
        QUEUED = "queued"
        DONE = "done"
        FAILED = "failed"

    screen = models.ForeignKey(Screen, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=12, choices=Trigger.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    requested_at = models.DateTimeField(auto_now_add=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    bars_as_of = models.DateTimeField(null=True, blank=True, help_text="the latest bar's start")
    forming = models.BooleanField(default=False, help_text="ran on the day's forming bar")
    universe_size = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    entered = models.JSONField(default=list)
    exited = models.JSONField(default=list)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["screen", "state", "-computed_at"])]

    def __str__(self) -> str:
        return f"{self.screen_id} run {self.pk} ({self.state})"


class ScreenRow(models.Model):
    run = models.ForeignKey(ScreenRun, on_delete=models.CASCADE, related_name="rows")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    rank = models.PositiveIntegerField()
    columns = models.JSONField(default=dict, help_text="{name: number or null}")
    rank_value = models.FloatField(null=True)
    price = models.FloatField(null=True, help_text="the latest close the run saw")

    class Meta:
        ordering = ["run", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["run", "rank"], name="unique_screen_rank_per_run"),
            models.UniqueConstraint(
                fields=["run", "instrument"], name="unique_screen_instrument_per_run"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.rank} {self.instrument.trading_symbol}"


class ScreenNotice(models.Model):
    """One channel's notice of one run's entrants; unique per (run, channel)."""

    class Channel(models.TextChoices):
        BROWSER = "browser"
        EMAIL = "email"
        WEBHOOK = "webhook"

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    run = models.ForeignKey(ScreenRun, on_delete=models.CASCADE, related_name="notices")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.JSONField(default=list, help_text="[{at, outcome, status}] per try")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["run", "channel"], name="one_notice_per_channel")
        ]


def visible_to(user_id: int | None) -> models.QuerySet[Screen]:
    """The screens user `user_id` sees (None: nobody signed in): the shared ones and their
    own. The pages, the API, and a `screener:SLUG` universe all ask this."""
    mine = Q(owner_id=user_id) if user_id is not None else Q(pk__in=[])
    return Screen.objects.filter(Q(owner__isnull=True) | mine)


def latest_run(screen: Screen) -> ScreenRun | None:
    """The screen's latest finished run (what its page, API and stream show)."""
    return (
        ScreenRun.objects.filter(screen=screen, state=ScreenRun.State.DONE)
        .order_by("-computed_at", "-id")
        .first()
    )


def latest_run_instruments(slug: str) -> list[Instrument]:
    """The instruments of screen `slug`'s latest run: what its stream (`type:<slug>`)
    carries. Called by the stream layer (`streams.sources`) as a stream is started or
    checked, and by a backfill of `--screener`; raises LookupError when there is none."""
    screen = Screen.objects.filter(slug=slug).first()
    run = latest_run(screen) if screen is not None else None
    if run is None:
        raise LookupError(f"no {slug} screen run to stream")
    rows = ScreenRow.objects.filter(run=run).select_related("instrument")
    return [r.instrument for r in rows]


def screen_exists(slug: str) -> bool:
    """Whether a stream key may name `slug` (the stream layer asks, `streams.sources`)."""
    return Screen.objects.filter(slug=slug).exists()
