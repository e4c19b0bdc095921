"""Is a stream's connection alive somewhere? The one answer supervision, the takeover
watcher, `stream_status`, the admin and health share.

In the full stack the connection's key lock says so: its thread renews it every second and
it lapses `LOCK_TTL_SECONDS` after the worker dies (SIGKILL, OOM, a lost host), so a live
state without the lock is a connection whose worker is gone. Embedded mode has one process
and no locks to read: there the heartbeat in the database decides, as the process that
wrote it may have died without recording its end.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

import redis
from django.conf import settings
from django.utils import timezone

from marketstream.connections.locks import KEY_LOCK_PREFIX, digest
from marketstream.connections.records import LIVE_STATES
from marketstream.models import Stream
from prices.redisconn import redis_client

logger = logging.getLogger(__name__)

STALE_HEARTBEAT_SECONDS = 60  # embedded mode, or Redis unreadable: the heartbeat decides
WORKER_GONE = "worker_gone"  # the state shown for a live row whose connection is not held


def locked_keys(keys: Iterable[str]) -> set[str] | None:
    """The stream keys whose key lock is held now (one round trip); None where locks cannot
    be read (embedded mode, Redis unreachable), and the heartbeat decides."""
    keys = list(keys)
    if not settings.REDIS_URL:
        return None
    try:
        client = redis_client(settings.REDIS_URL)
        held = client.mget([KEY_LOCK_PREFIX + digest(key) for key in keys]) if keys else []
    except redis.RedisError as exc:
        logger.warning("cannot read connection locks (%s): judging streams by heartbeat", exc)
        return None
    return {key for key, value in zip(keys, held, strict=True) if value is not None}


def _heartbeat_fresh(stream: Stream) -> bool:
    fresh = timezone.now() - timedelta(seconds=STALE_HEARTBEAT_SECONDS)
    return stream.last_heartbeat is not None and stream.last_heartbeat >= fresh


def is_alive(stream: Stream, locked: set[str] | None = None, *, read: bool = True) -> bool:
    """A live state, and its lock held (full stack) or its heartbeat fresh (embedded).
    `locked` from `locked_keys` over many streams saves a round trip per stream."""
    if stream.state not in LIVE_STATES:
        return False
    if locked is None and read:
        locked = locked_keys([stream.key])
    if locked is None:
        return _heartbeat_fresh(stream)
    return stream.key in locked


def shown_state(stream: Stream, locked: set[str] | None) -> str:
    """The state operators see: `worker_gone` for a live row whose lock nobody holds (full
    stack; where locks cannot be read, the row's own state)."""
    if locked is not None and stream.state in LIVE_STATES and stream.key not in locked:
        return WORKER_GONE
    return stream.state
