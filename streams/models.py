"""A stream: one upstream DhanHQ connection of some kind (a market feed per stream key, the
depth socket, an order socket per broker account), what operators want of it
(`desired_state`, written by `streams.control`) and what it is doing (the rest, written only
by `streams.records`, which also marks a connection that failed for good as not wanted).

The table keeps the name it had when the model lived in the project package
(`marketstream_stream`): the move to this app changed Django's state only (migrations
`streams.0001_initial` and `marketstream.0004_stream_moved_to_streams`)."""

from django.db import models


class Stream(models.Model):
    class Desired(models.TextChoices):
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    class State(models.TextChoices):
        STARTING = "starting", "Starting"
        RUNNING = "running", "Running"
        RECONNECTING = "reconnecting", "Reconnecting"
        STOPPED = "stopped", "Stopped"
        MARKET_CLOSED = "market_closed", "Market closed"
        ERROR = "error", "Error"
        # Its worker stopped gracefully (SIGTERM, a deploy) and freed it for another worker,
        # whose takeover watcher starts it within seconds (or the next worker to start).
        HANDED_OVER = "handed_over", "Handed over"

    key = models.CharField(max_length=2000, unique=True)
    kind = models.CharField(max_length=32, default="market_feed", help_text="connection kind")
    screener_type = models.CharField(max_length=40, blank=True)
    instruments = models.JSONField(default=list, help_text="instrument keys, SEG:SID")
    mode = models.CharField(max_length=8, default="quote")
    desired_state = models.CharField(max_length=8, choices=Desired.choices, default=Desired.RUNNING)
    state = models.CharField(max_length=16, choices=State.choices, default=State.STOPPED)
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    last_tick_at = models.DateTimeField(null=True, blank=True)
    ticks_received = models.PositiveBigIntegerField(default=0)
    reconnects = models.PositiveIntegerField(default=0)
    malformed_frames = models.PositiveBigIntegerField(default=0)
    last_error = models.TextField(blank=True, help_text="never contains the access token")
    stopped_reason = models.CharField(max_length=200, blank=True)
    # Bumped by a restart request: a feed thread started for an older generation stops.
    generation = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "marketstream_stream"
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    @property
    def instrument_count(self) -> int:
        return len(self.instruments)
