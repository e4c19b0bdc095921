"""The one supervision step: which streams should run now, and where each starts. Every
entry point that decides a stream should run calls `supervise`:

- beat's `supervise_streams` task (every 15 s) and embedded mode's beat thread
  (`marketstream.runtime.EmbeddedBeat`): every wanted stream that is not alive, in its
  kind's hours, is queued (one start in flight per key, `queue.py`; embedded mode runs the
  start task at once, in the web process that hosts the connections);
- a worker's takeover watcher (`takeover.py`), `orphans_only` with the worker's registry:
  what another worker should run and nobody does (a live row whose key lock lapsed, or a
  row a stopping worker handed over) starts here, the key lock choosing one worker;
- the depth supervisor (`depthsupervisor.py`), with its registry and the depth row's key,
  while someone watches depth;
- account linking (`control.want_stream`), with the account's order stream's key.

On-demand kinds (the depth socket) are left out of the sweeps: only their supervisor,
which knows who needs them, names them. Started here (a registry given), the key lock
decides whether a stream is alive elsewhere; queued, its lock or heartbeat (`liveness.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field

from django.db.models import QuerySet

from prices import calendar
from prices.deployment import current
from streams.kinds import DEPTH_KIND, MARKET_FEED_KIND, ON_DEMAND_KINDS, ORDER_KIND
from streams.liveness import is_alive, read_locks
from streams.models import Stream
from streams.queue import enqueue_start
from streams.records import LIVE_STATES
from streams.registry import ConnectionRegistry, StreamStartError

logger = logging.getLogger(__name__)

HOURS = {  # when each kind runs: supervision starts a kind's streams only then
    MARKET_FEED_KIND: lambda: calendar.market_is_open(),
    DEPTH_KIND: lambda: calendar.market_is_open(),
    ORDER_KIND: lambda: calendar.order_feed_is_open(),
}
ORPHAN_STATES = (*LIVE_STATES, Stream.State.HANDED_OVER)


@dataclass(frozen=True, slots=True)
class Supervised:
    """What one step did, by stream key."""

    started: list[str] = field(default_factory=list)  # started here, or its start queued
    busy: list[str] = field(default_factory=list)  # not started here: another runs it
    refused: list[str] = field(default_factory=list)  # cannot start as asked (logged)


def open_kinds() -> list[str]:
    """The kinds whose hours are open now."""
    return [kind for kind, is_open in HOURS.items() if is_open()]


def wanted_streams(kinds: list[str], *, keys: Collection[str] | None = None) -> QuerySet:
    """Streams operators want running, of these kinds: those named by `keys`, or every one
    but the on-demand kinds' (their own supervisor names them)."""
    wanted = Stream.objects.filter(desired_state=Stream.Desired.RUNNING, kind__in=kinds)
    if keys is not None:
        return wanted.filter(key__in=list(keys))
    return wanted.exclude(kind__in=ON_DEMAND_KINDS)


def orphans(kinds: list[str] | None = None) -> list[str]:
    """Wanted streams in their hours that nobody runs and another worker should: rows that
    say live but whose lock has lapsed (their worker is gone), and rows a stopping worker
    handed over (full stack only; embedded mode has no other process to take over)."""
    kinds = open_kinds() if kinds is None else kinds
    if not kinds or current().embedded:
        return []
    left = [s for s in wanted_streams(kinds) if s.state in ORPHAN_STATES]
    locks = read_locks(s.key for s in left)
    if locks is None:
        return []  # Redis unreadable: nobody can take a lock now anyway
    return [s.key for s in left if s.key not in locks.held]


def supervise(
    *,
    registry: ConnectionRegistry | None = None,
    keys: Collection[str] | None = None,
    orphans_only: bool = False,
) -> Supervised:
    """The step: start what should run and does not, here in `registry` (a process that
    hosts connections) or by queueing its start. `keys` narrows it to those streams;
    `orphans_only` to what another worker left (`orphans`)."""
    kinds = open_kinds()
    if not kinds:
        return Supervised()
    if orphans_only:
        due = orphans(kinds)
    elif registry is not None:  # here, the key lock tells whether it runs elsewhere
        due = [s.key for s in wanted_streams(kinds, keys=keys)]
    else:
        wanted = list(wanted_streams(kinds, keys=keys))
        locks = read_locks(s.key for s in wanted)
        due = [s.key for s in wanted if not is_alive(s, locks, read=False)]
    if registry is None:
        return Supervised(started=[key for key in due if enqueue_start(key)])
    return _start_here(registry, due)


def _start_here(registry: ConnectionRegistry, keys: list[str]) -> Supervised:
    done = Supervised()
    for key in keys:
        if registry.thread(key) is not None:
            continue  # it runs here already
        try:
            outcome = registry.start(key)
        except StreamStartError as exc:
            logger.warning("stream %s not started here: %s", key, exc)
            done.refused.append(key)
            continue
        (done.started if outcome.started else done.busy).append(key)
    return done
