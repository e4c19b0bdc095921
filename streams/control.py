"""Stream control as named functions: what the commands, the admin, the pages and the apps
above call (account linking wants an account's order socket: `want_stream`).

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
from prices import calendar
from prices.deployment import current
from streams.keys import StreamKeyError, StreamSpec, resolve_instruments
from streams.liveness import is_alive
from streams.models import Stream
from streams.queue import enqueue_start
from streams.supervision import supervise

logger = logging.getLogger(__name__)

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


def want_stream(key: str, *, kind: str, mode: str, wanted: bool) -> Stream:
    """A stream an app wants while something holds (account linking: an account's order
    socket while its token is good), or no longer wants. Called after the save that
    decided it; a wanted stream starts at once in its hours (the supervision step, full
    stack; embedded mode's beat starts it within seconds, as a command's own process
    would not outlive it)."""
    stream, _ = Stream.objects.update_or_create(
        key=key,
        defaults={
            "kind": kind,
            "mode": mode,
            "instruments": [],
            "desired_state": Stream.Desired.RUNNING if wanted else Stream.Desired.STOPPED,
        },
    )
    if wanted and not current().embedded:
        supervise(keys=[key])
    return stream


def forget_stream(key: str) -> bool:
    """A stream nobody will want again (its broker account was deleted): its row goes, and
    its connection, wherever it runs, stops within a second ("stream deleted")."""
    deleted, _ = Stream.objects.filter(key=key).delete()
    return bool(deleted)


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


def follow_source(screener_type: str) -> str:
    """A screen's rows changed (`screeners.runs`, after its run commits): its bare stream
    (`type:<slug>`), if there is one, takes the new instruments, and a running connection
    is restarted onto them (a reconnect: a second or two without ticks)."""
    spec = StreamSpec(screener_type)
    stream = Stream.objects.filter(key=spec.key).first()
    if stream is None:
        return "no stream"
    keys = [i.key for i in resolve_instruments(spec)]
    if keys == stream.instruments:
        return "unchanged"
    Stream.objects.filter(pk=stream.pk).update(instruments=keys, updated_at=timezone.now())
    if stream.desired_state != Stream.Desired.RUNNING:
        return "instruments updated"
    if current().embedded:  # the web process's connection ends; its beat starts it again
        Stream.objects.filter(pk=stream.pk).update(generation=F("generation") + 1)
        return "restart requested"
    return request_restart(spec.key) if is_alive(stream) else "instruments updated"
