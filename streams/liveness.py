"""Is a stream's connection alive somewhere? The one answer supervision, the takeover
watcher, `stream_status`, the admin and health share.

In the full stack the connection's key lock says so. Its thread renews it every second, so
its remaining TTL tells two things apart: a lock that exists is held (nobody else may start
the stream until it lapses, `LOCK_TTL_SECONDS` after the last renewal: the takeover bound for
a hard kill); a lock not renewed for `RENEWAL_GRACE_SECONDS` belongs to a worker that stopped
renewing (SIGKILL, OOM, a lost host), and status shows `worker_gone` at once rather than when
the lock lapses. Embedded mode has one process and no locks to read: there the heartbeat in
the database decides, as the process that wrote it may have died without recording its end.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import redis
from django.utils import timezone

from prices.deployment import current
from streams.kinds import ON_DEMAND_KINDS
from streams.locks import KEY_LOCK_PREFIX, LOCK_TTL_SECONDS, digest
from streams.models import Stream
from streams.records import LIVE_STATES

logger = logging.getLogger(__name__)

STALE_HEARTBEAT_SECONDS = 60  # embedded mode, or Redis unreadable: the heartbeat decides
WORKER_GONE = "worker_gone"  # the state shown for a live row whose worker stopped renewing
# The state shown for an on-demand connection (the depth socket) that operators allow and
# that is not running because nobody needs it: its supervisor opens it when someone does.
IDLE = "idle"
# Two missed renewals (one a second): the worker is gone. `worker_gone` shows within this
# of its death, well inside the 3 s the status promises.
RENEWAL_GRACE_SECONDS = 2.5
_RENEWED_MIN_TTL_MS = int((LOCK_TTL_SECONDS - RENEWAL_GRACE_SECONDS) * 1000)
_NO_KEY, _NO_EXPIRY = -2, -1  # PTTL's answers for a missing key and a key without a TTL


@dataclass(frozen=True, slots=True)
class LockView:
    """What the key locks of some streams said, in one read."""

    held: frozenset[str]  # a lock exists: nobody else may start the stream now
    renewed: frozenset[str]  # ...and was renewed within RENEWAL_GRACE_SECONDS: its worker lives


def read_locks(keys: Iterable[str]) -> LockView | None:
    """The key locks of these streams, in one round trip (a pipeline of PTTLs); None where
    locks cannot be read (embedded mode, Redis unreachable), and the heartbeat decides."""
    keys = list(keys)
    client = current().redis()
    if client is None:
        return None
    try:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.pttl(KEY_LOCK_PREFIX + digest(key))
        ttls = pipe.execute() if keys else []
    except redis.RedisError as exc:
        logger.warning("cannot read connection locks (%s): judging streams by heartbeat", exc)
        return None
    held = {key for key, ttl in zip(keys, ttls, strict=True) if ttl != _NO_KEY}
    renewed = {
        key
        for key, ttl in zip(keys, ttls, strict=True)
        if ttl == _NO_EXPIRY or ttl > _RENEWED_MIN_TTL_MS
    }
    return LockView(held=frozenset(held), renewed=frozenset(renewed))


def _heartbeat_fresh(stream: Stream) -> bool:
    fresh = timezone.now() - timedelta(seconds=STALE_HEARTBEAT_SECONDS)
    return stream.last_heartbeat is not None and stream.last_heartbeat >= fresh


def is_alive(stream: Stream, locks: LockView | None = None, *, read: bool = True) -> bool:
    """A live state, and its lock held (full stack) or its heartbeat fresh (embedded).
    A lock not renewed lately still counts until it lapses: nobody could start the stream
    meanwhile. `locks` from `read_locks` over many streams saves a round trip per stream."""
    if stream.state not in LIVE_STATES:
        return False
    if locks is None and read:
        locks = read_locks([stream.key])
    if locks is None:
        return _heartbeat_fresh(stream)
    return stream.key in locks.held


def shown_state(stream: Stream, locks: LockView | None, *, demanded: bool = False) -> str:
    """The state operators see (`stream_status`, the admin, health): `worker_gone` for a
    live row whose lock nobody renewed lately, until another worker takes the stream over
    (full stack; where locks cannot be read, the row's own state); `idle` for a stopped
    on-demand row operators allow while nobody `demanded` it."""
    if locks is not None and stream.state in LIVE_STATES and stream.key not in locks.renewed:
        return WORKER_GONE
    if may_idle(stream) and not demanded:
        return IDLE
    return stream.state


def may_idle(stream: Stream) -> bool:
    """An on-demand row that operators allow and that runs nowhere: `idle` unless someone
    needs it now (then it is about to open, or its start was refused)."""
    return (
        stream.kind in ON_DEMAND_KINDS
        and stream.desired_state == Stream.Desired.RUNNING
        and stream.state == Stream.State.STOPPED
    )
