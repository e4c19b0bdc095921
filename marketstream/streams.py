"""Stream control as named functions: what the commands, the admin, the pages and beat call.

They change the Stream rows (the desired state every feed thread watches) and enqueue the
Celery task that starts a feed; they never touch threads of another process directly.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from marketstream.calendar import market_is_open, next_open
from marketstream.models import Stream
from marketstream.protocol import MAX_INSTRUMENTS_PER_CONNECTION, FeedMode
from marketstream.streamkeys import StreamKeyError, StreamSpec, resolve_instruments

logger = logging.getLogger(__name__)

STALE_HEARTBEAT_SECONDS = 60


class MarketClosedError(Exception):
    """The market is closed: nothing was started (or marked wanted)."""


def request_start(
    *, spec: StreamSpec, mode: str, enqueue: bool = True, when_closed: str = "wait"
) -> tuple[Stream, str]:
    """Mark the stream wanted and enqueue its start; validates instruments first.

    `enqueue=False` only marks it wanted: the supervision tick of the process that hosts
    feeds starts it (embedded mode, where a command's own process would not outlive it).
    With the market closed, `when_closed="wait"` marks it wanted for the next open and
    `"refuse"` raises MarketClosedError without touching anything."""
    from marketstream.tasks import start_stream_task

    FeedMode.parse(mode)
    instruments = resolve_instruments(spec)
    if len(instruments) > MAX_INSTRUMENTS_PER_CONNECTION:
        raise StreamKeyError(
            f"{len(instruments)} instruments exceed DhanHQ's {MAX_INSTRUMENTS_PER_CONNECTION} "
            "per connection: split them over several streams"
        )
    if when_closed == "refuse" and not market_is_open():
        raise MarketClosedError(
            f"the market is closed (next open {next_open():%a %d %b %H:%M} IST): "
            "nothing started; --when-open starts it then"
        )
    with transaction.atomic():
        stream, _ = Stream.objects.update_or_create(
            key=spec.key,
            defaults={
                "screener_type": spec.screener_type,
                "mode": mode.lower(),
                "instruments": [i.key for i in instruments],
                "desired_state": Stream.Desired.RUNNING,
            },
        )
    if not market_is_open():
        opens = next_open()
        return stream, f"market is closed: the stream starts at the open ({opens:%a %H:%M} IST)"
    if is_alive(stream):
        return stream, "already running"
    if not enqueue:
        return stream, "marked wanted: the web process starts it within seconds"
    start_stream_task.delay(stream.key)
    return stream, f"start requested for {len(instruments)} instruments"


def request_stop(key: str) -> bool:
    """Ask the feed for `key` to stop, wherever it runs; it notices within seconds."""
    return bool(
        Stream.objects.filter(key=key).update(
            desired_state=Stream.Desired.STOPPED, updated_at=timezone.now()
        )
    )


def request_stop_all() -> int:
    return Stream.objects.update(desired_state=Stream.Desired.STOPPED, updated_at=timezone.now())


LIVE_STATES = (Stream.State.STARTING, Stream.State.RUNNING, Stream.State.RECONNECTING)


def is_alive(stream: Stream) -> bool:
    if stream.state not in LIVE_STATES:
        return False
    fresh = timezone.now() - timedelta(seconds=STALE_HEARTBEAT_SECONDS)
    return stream.last_heartbeat is not None and stream.last_heartbeat >= fresh


def end_leftovers(*, reason: str) -> int:
    """Embedded mode, as the web process starts: it hosts every feed and runs none yet, so
    a stream the database calls live was left so by a process that died without recording
    its end. Ending them now lets supervision start them at once, not once their
    heartbeat is STALE_HEARTBEAT_SECONDS old. Returns how many."""
    return Stream.objects.filter(state__in=LIVE_STATES).update(
        state=Stream.State.STOPPED,
        stopped_reason=reason[:200],
        worker_pid=None,
        updated_at=timezone.now(),
    )


def supervise() -> list[str]:
    """Beat's tick: (re)start every wanted stream that is not alive while the market is open."""
    from marketstream.tasks import start_stream_task

    if not market_is_open():
        return []
    started = []
    for stream in Stream.objects.filter(desired_state=Stream.Desired.RUNNING):
        if not is_alive(stream):
            start_stream_task.delay(stream.key)
            started.append(stream.key)
    return started


RESTART_DELAY_SECONDS = 5  # the old feed notices within CONTROL_CHECK_INTERVAL_SECONDS


def request_restart(key: str) -> str:
    """End the running feed (any worker) and start a fresh one."""
    from marketstream.tasks import start_stream_task

    updated = Stream.objects.filter(key=key).update(
        desired_state=Stream.Desired.RUNNING,
        generation=F("generation") + 1,
        updated_at=timezone.now(),
    )
    if not updated:
        return "no such stream"
    start_stream_task.apply_async((key,), countdown=RESTART_DELAY_SECONDS)
    return "restart requested"


def health_rows(*, now: datetime) -> list[dict]:
    """One entry per stream for the health endpoint (prices.health calls this by name)."""

    def age(moment: datetime | None) -> float | None:
        return round((now - moment).total_seconds(), 1) if moment else None

    return [
        {
            "key": s.key,
            "state": s.state,
            "desired_state": s.desired_state,
            "instruments": s.instrument_count,
            "ticks_received": s.ticks_received,
            "reconnects": s.reconnects,
            "heartbeat_age_seconds": age(s.last_heartbeat),
            "last_tick_age_seconds": age(s.last_tick_at),
            "last_error": s.last_error,
            "stopped_reason": s.stopped_reason,
        }
        for s in Stream.objects.all()
    ]


def ensure_stream(*, screener_type: str) -> str:
    """A screener page was opened: make sure its stream runs. Enqueue only, and never let
    a broker or database hiccup break the page."""
    from django.conf import settings
    from kombu.exceptions import OperationalError as BrokerError

    spec = StreamSpec(screener_type)
    try:
        running = Stream.objects.filter(key=spec.key, desired_state=Stream.Desired.RUNNING).first()
        if running is not None and is_alive(running):
            return "already running"  # the common case: one read, no write, nothing enqueued
        _, message = request_start(spec=spec, mode=settings.DHANHQ_WS_MODE)
    except (StreamKeyError, BrokerError, DatabaseError, redis.RedisError) as exc:
        logger.warning("could not ensure the %s stream: %s", screener_type, exc)
        return f"not started: {exc}"
    return message
