"""Enqueuing a connection's start: at most one start per key in flight across the whole
deployment (a cache key set with `add`, dropped by the start task when it has run), so a
storm of page views while the worker is down queues one start, not hundreds.

The start task is named, not imported: `tasks.py` sits above this module (its tasks call
the supervision step, which queues through here), so the task is found in Celery's
registry by its name.
"""

from __future__ import annotations

from celery import current_app
from django.core.cache import cache

from streams.locks import digest

START_TASK = "streams.start_stream_task"
START_IN_FLIGHT_SECONDS = 60  # a start not picked up by then (no worker) may be queued again
IN_FLIGHT_PREFIX = "market_stream:start_in_flight:"


def _marker(key: str) -> str:
    return IN_FLIGHT_PREFIX + digest(key)


def enqueue_start(key: str, *, countdown: float = 0) -> bool:
    """Queue the start task for `key` unless one is in flight; True when it queued one.
    Embedded mode runs the task here and now (CELERY_TASK_ALWAYS_EAGER)."""
    if not cache.add(_marker(key), 1, timeout=START_IN_FLIGHT_SECONDS + countdown):
        return False
    try:
        current_app.tasks[START_TASK].apply_async((key,), countdown=countdown or None)
    except BaseException:
        cache.delete(_marker(key))
        raise
    return True


def start_finished(key: str) -> None:
    """The start task ran (started, refused or found it running): the next may be queued."""
    cache.delete(_marker(key))
