"""Keeping one upstream connection alive, for any connection kind: connect (a stop
interrupts even a hanging handshake), subscribe, read frames into the kind, a watchdog for
silent sockets, capped exponential backoff with full jitter, and DhanHQ's disconnect
reasons classified (auth failures give up after a few tries, 805/429 cool off, refused
requests stop at once). Run by the connection thread (`thread.py`) on its own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from dhan.errors import (
    FeedAuthError,
    FeedDisconnectedError,
    FeedError,
    FeedLimitError,
    FeedRateLimitedError,
    FeedRejectedError,
)
from streams.kinds import ConnectionKind, UpstreamT

RECONNECT_BASE_DELAY_SECONDS = 0.5
RECONNECT_MAX_DELAY_SECONDS = 30.0
RATE_LIMIT_COOL_OFF_SECONDS = 60.0
WATCHDOG_SILENCE_SECONDS = 30.0
IDLE_INTERVAL_SECONDS = 0.25
UNSUBSCRIBE_TIMEOUT_SECONDS = 0.5

T = TypeVar("T")


def backoff_delay(attempt: int, *, rng: random.Random, base: float, cap: float) -> float:
    """Capped exponential backoff with full jitter (AWS architecture blog)."""
    return rng.uniform(0, min(cap, base * (2 ** min(attempt, 30))))


@dataclass(slots=True)
class FeedPolicy:
    """Timings of `run_connection`, injectable so tests run in seconds."""

    base_delay_seconds: float = RECONNECT_BASE_DELAY_SECONDS
    max_delay_seconds: float = RECONNECT_MAX_DELAY_SECONDS
    rate_limit_cool_off_seconds: float = RATE_LIMIT_COOL_OFF_SECONDS
    watchdog_silence_seconds: float = WATCHDOG_SILENCE_SECONDS
    max_auth_failures: int = 3


class ConnectionEvents:
    """What `run_connection` reports to its owner (the connection thread overrides these)."""

    async def connected(self, *, reconnects: int) -> None:
        """Subscribed, after the first connect and after every reconnect."""

    async def received(self) -> None:
        """A frame went into the kind."""

    async def disconnected(self, error: FeedError, *, delay_seconds: float) -> None:
        """The connection failed; the next attempt comes after `delay_seconds`."""

    async def idle(self) -> None:
        """Called at least every IDLE_INTERVAL_SECONDS in every state, connecting included."""


class _Stopped(Exception):
    """The stop event was set while waiting for something else."""


async def until_stopped(
    awaitable: Awaitable[T], *, stop: asyncio.Event, events: ConnectionEvents
) -> T:
    """Await `awaitable` while doing housekeeping; raise _Stopped (cancelling it) as soon
    as `stop` is set, so no state of a connection holds a stop back."""
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        while True:
            await asyncio.wait(
                {task, stopper}, timeout=IDLE_INTERVAL_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if task.done():
                return task.result()
            if stop.is_set():
                raise _Stopped
            await events.idle()
    finally:
        for pending in (task, stopper):
            pending.cancel()
        await asyncio.gather(task, stopper, return_exceptions=True)


async def run_connection(
    *,
    kind: ConnectionKind,
    stop: asyncio.Event,
    events: ConnectionEvents,
    policy: FeedPolicy | None = None,
    rng: random.Random | None = None,
) -> None:
    """Keep one subscribed connection until `stop` is set; every reconnect subscribes
    again. Raises when retrying cannot help: FeedAuthError (after a few tries),
    FeedLimitError, FeedRejectedError. Disconnects retry for ever with backoff; 805 and
    HTTP 429 cool off first."""
    policy = policy or FeedPolicy()
    rng = rng or random.Random()
    attempt = auth_failures = reconnects = 0
    while not stop.is_set():
        received_before = kind.items_received
        try:
            await _one_connection(
                kind, stop=stop, events=events, policy=policy, reconnects=reconnects
            )
            return  # asked to stop
        except _Stopped:
            return
        except (FeedLimitError, FeedRejectedError):
            raise
        except FeedError as exc:
            auth_failures += isinstance(exc, FeedAuthError)
            if auth_failures >= policy.max_auth_failures:
                raise
            if kind.items_received > received_before:  # data flowed: start afresh
                attempt = auth_failures = 0
            delay = _delay(exc, attempt=attempt, policy=policy, rng=rng)
            await events.disconnected(exc, delay_seconds=delay)
        attempt += 1
        reconnects += 1
        await _sleep_or_stop(delay, stop=stop, events=events)


def _delay(error: FeedError, *, attempt: int, policy: FeedPolicy, rng: random.Random) -> float:
    if isinstance(error, FeedRateLimitedError):
        return policy.rate_limit_cool_off_seconds
    return backoff_delay(
        attempt, rng=rng, base=policy.base_delay_seconds, cap=policy.max_delay_seconds
    )


async def _one_connection(
    kind: ConnectionKind[UpstreamT],
    *,
    stop: asyncio.Event,
    events: ConnectionEvents,
    policy: FeedPolicy,
    reconnects: int,
) -> None:
    upstream = await until_stopped(kind.open(), stop=stop, events=events)
    try:
        await until_stopped(kind.subscribe(upstream), stop=stop, events=events)
        await events.connected(reconnects=reconnects)
        await _pump(kind, upstream, stop=stop, events=events, policy=policy)
        # Asked to stop: unsubscribe before saying goodbye, as a polite client does; a
        # courtesy that never holds the stop back.
        with contextlib.suppress(TimeoutError, FeedError):
            await asyncio.wait_for(kind.unsubscribe(upstream), UNSUBSCRIBE_TIMEOUT_SECONDS)
    finally:
        await upstream.close()


def _watchdog(*, silent_seconds: float, policy: FeedPolicy) -> None:
    """A socket that is open but silent for too long is a failure (OpenAlgo's users' top
    complaint: feeds that stay connected and send nothing)."""
    if silent_seconds > policy.watchdog_silence_seconds:
        raise FeedDisconnectedError(
            f"watchdog: no frame for {policy.watchdog_silence_seconds:.0f} s"
        )


async def _sleep_or_stop(seconds: float, *, stop: asyncio.Event, events: ConnectionEvents) -> None:
    try:
        await until_stopped(asyncio.sleep(seconds), stop=stop, events=events)
    except _Stopped:
        pass


async def _pump(
    kind: ConnectionKind[UpstreamT],
    upstream: UpstreamT,
    *,
    stop: asyncio.Event,
    events: ConnectionEvents,
    policy: FeedPolicy,
) -> None:
    """Read frames until stop or failure; a socket silent for too long is a failure. One
    reader task for the whole connection (no task per frame); this loop wakes every
    IDLE_INTERVAL_SECONDS for the owner's housekeeping, the kind's and the watchdog."""
    loop = asyncio.get_running_loop()
    last_frame = loop.time()

    async def read() -> None:
        nonlocal last_frame
        async for frame in upstream.frames():
            kind.take(frame)
            last_frame = loop.time()
            await events.received()

    reader = asyncio.create_task(read())
    stopper = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            done, _ = await asyncio.wait(
                {reader, stopper},
                timeout=IDLE_INTERVAL_SECONDS,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if reader in done:
                reader.result()  # raises the reader's FeedError
                raise FeedDisconnectedError("the upstream ended the connection")
            await events.idle()
            await kind.maintain(upstream)
            if not kind.expects_frames():  # nothing subscribed: silence is normal
                last_frame = loop.time()
            _watchdog(silent_seconds=loop.time() - last_frame, policy=policy)
    finally:
        await _cancel(reader, stopper)


async def _cancel(*tasks: asyncio.Future) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
