"""Stream control as named functions: what the commands, the admin, the pages and beat call.

They change what operators want of a stream (`desired_state`, `generation`: the wishes every
connection thread watches) and enqueue starts; they never touch threads of another process
directly. An operator's stop stays a stop: pages start only streams nobody stopped.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone
from django_redis.exceptions import ConnectionInterrupted
from kombu.exceptions import OperationalError as BrokerError

from dhan.limits import MAX_INSTRUMENTS_PER_CONNECTION
from dhan.requests import FeedMode
from marketstream.connections.keys import StreamKeyError, StreamSpec, resolve_instruments
from marketstream.connections.kinds import MARKET_FEED_KIND, ON_DEMAND_KINDS, ORDER_KIND
from marketstream.connections.liveness import is_alive, read_locks
from marketstream.connections.queue import enqueue_start
from marketstream.connections.records import LIVE_STATES
from marketstream.models import Stream
from prices import calendar

logger = logging.getLogger(__name__)

HOURS = {  # when beat keeps each kind running
    MARKET_FEED_KIND: lambda: calendar.market_is_open(),
    ORDER_KIND: lambda: calendar.order_feed_is_open(),
}
RESTART_DELAY_SECONDS = 3  # the old connection notices within a second and says goodbye


class MarketClosedError(Exception):
    """The market is closed: nothing was started (or marked wanted)."""


def request_start(
    *, spec: StreamSpec, mode: str, enqueue: bool = True, when_closed: str = "wait"
) -> tuple[Stream, str]:
    """Mark the stream wanted (an operator's start) and enqueue its start; validates the
    instruments first.

    `enqueue=False` only marks it wanted: the supervision tick of the process that hosts
    connections starts it (embedded mode, where a command's own process would not outlive
    it). With the market closed, `when_closed="wait"` marks it wanted for the next open and
    `"refuse"` raises MarketClosedError without touching anything."""
    FeedMode.parse(mode)
    instruments = resolve_instruments(spec)
    if len(instruments) > MAX_INSTRUMENTS_PER_CONNECTION:
        raise StreamKeyError(
            f"{len(instruments)} instruments exceed DhanHQ's {MAX_INSTRUMENTS_PER_CONNECTION} "
            "per connection: split them over several streams"
        )
    if when_closed == "refuse" and not calendar.market_is_open():
        raise MarketClosedError(
            f"the market is closed (next open {calendar.next_open():%a %d %b %H:%M} IST): "
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
    return stream, _start_if_needed(stream, enqueue=enqueue, count=len(instruments))


def _start_if_needed(stream: Stream, *, enqueue: bool, count: int) -> str:
    if not calendar.market_is_open():
        opens = calendar.next_open()
        return f"market is closed: the stream starts at the open ({opens:%a %H:%M} IST)"
    if is_alive(stream):
        return "already running"
    if not enqueue:
        return "marked wanted: the web process starts it within seconds"
    if not enqueue_start(stream.key):
        return "a start is already on its way"
    return f"start requested for {count} instruments"


def request_stop(key: str) -> bool:
    """Ask the connection for `key` to stop, wherever it runs; it notices within a second."""
    updated = Stream.objects.filter(key=key).update(
        desired_state=Stream.Desired.STOPPED, updated_at=timezone.now()
    )
    return bool(updated)


def allow_on_demand(key: str) -> str:
    """An on-demand connection (the depth socket) may run again: its supervisor opens it
    while someone needs it. Nothing is enqueued."""
    updated = Stream.objects.filter(key=key).update(
        desired_state=Stream.Desired.RUNNING, updated_at=timezone.now()
    )
    return "allowed: it opens while someone watches" if updated else "no such stream"


def request_stop_all() -> int:
    return Stream.objects.update(desired_state=Stream.Desired.STOPPED, updated_at=timezone.now())


def supervise() -> list[str]:
    """Beat's tick: (re)start every wanted stream that is not alive while its hours are
    open (the market's for feeds, the order feed's for order sockets; one start in flight
    per key). Returns the keys whose start it queued."""
    kinds = open_kinds()
    if not kinds:
        return []
    started = []
    wanted = list(wanted_streams(kinds))
    locks = read_locks(s.key for s in wanted)
    for stream in wanted:
        if not is_alive(stream, locks, read=False) and enqueue_start(stream.key):
            started.append(stream.key)
    return started


def open_kinds() -> list[str]:
    """The supervised kinds whose hours are open now."""
    return [kind for kind, is_open in HOURS.items() if is_open()]


def wanted_streams(kinds: list[str]):
    """Streams operators want running, of these kinds, that supervision starts (on-demand
    connections have their own supervisor)."""
    wanted = Stream.objects.filter(desired_state=Stream.Desired.RUNNING, kind__in=kinds)
    return wanted.exclude(kind__in=ON_DEMAND_KINDS)


def orphans() -> list[str]:
    """Wanted streams in their hours that nobody runs and another worker should: rows that
    say live but whose lock has lapsed (their worker is gone), and rows a stopping worker
    handed over (full stack only; embedded mode has no other process to take over)."""
    kinds = open_kinds()
    if not kinds or not settings.REDIS_URL:
        return []
    left = [s for s in wanted_streams(kinds) if s.state in (*LIVE_STATES, Stream.State.HANDED_OVER)]
    locks = read_locks(s.key for s in left)
    if locks is None:
        return []  # Redis unreadable: nobody can take a lock now anyway
    return [s.key for s in left if s.key not in locks.held]


def request_restart(key: str) -> str:
    """End the running connection (any worker) and start a fresh one."""
    updated = Stream.objects.filter(key=key).update(
        desired_state=Stream.Desired.RUNNING,
        generation=F("generation") + 1,
        updated_at=timezone.now(),
    )
    if not updated:
        return "no such stream"
    enqueue_start(key, countdown=RESTART_DELAY_SECONDS)
    return "restart requested"


def ensure_stream(*, screener_type: str) -> str:
    """A screener page was opened: make sure its stream runs, unless an operator stopped it.
    Enqueue only (one start in flight per key), and never let a broker, cache or database
    hiccup break the page."""
    spec = StreamSpec(screener_type)
    try:
        stream = Stream.objects.filter(key=spec.key).first()
        if stream is None:
            return request_start(spec=spec, mode=settings.DHANHQ_WS_MODE)[1]
        if stream.desired_state != Stream.Desired.RUNNING:
            return "stopped by an operator: not started"
        if is_alive(stream):
            return "already running"  # the common case: one read, no write, nothing enqueued
        count = len(stream.instruments)
        return _start_if_needed(stream, enqueue=True, count=count)
    except (
        StreamKeyError,
        BrokerError,
        DatabaseError,
        redis.RedisError,
        ConnectionInterrupted,
    ) as exc:
        logger.warning("could not ensure the %s stream: %s", screener_type, exc)
        return f"not started: {exc}"
