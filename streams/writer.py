"""Off-loop I/O for a connection: the writer thread that flushes decoded items (Redis), the
bookkeeper that runs database work (heartbeats, control checks) and another that renews the
locks. None ever blocks the loop that reads the upstream: a paused Redis or a locked
database costs writes, never a frame from DhanHQ or an unanswered ping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import redis
from django.db import DatabaseError, close_old_connections, connections

logger = logging.getLogger(__name__)

FLUSH_RETRY_BASE_SECONDS = 0.05
# The longest a failing flush waits to retry: the latest prices reach Redis within about
# this long after it is back.
FLUSH_RETRY_MAX_SECONDS = 1.0
JOIN_TIMEOUT_SECONDS = 5.0


class Writer:
    """A thread that runs `flush` whenever it is woken. Failures keep what was not written
    (the flush's own job) and retry with backoff; one warning per outage."""

    def __init__(self, flush: Callable[[], None], *, name: str) -> None:
        self._flush = flush
        self._name = name
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"writer[{name[:80]}]", daemon=True)
        self._failures = 0
        self._failing_since = 0.0

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Called on the loop after `collect` handed something over: cheap, never blocks."""
        self._wake.set()

    def stop(self) -> None:
        """Flush once more (bounded by Redis's own timeouts) and end the thread."""
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(JOIN_TIMEOUT_SECONDS)

    def _run(self) -> None:
        delay = None
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            stopping = self._stopping
            delay = self._attempt()
            if stopping:
                return

    def _attempt(self) -> float | None:
        """One flush; returns how long to wait before retrying, None when it worked."""
        try:
            self._flush()
        except (redis.RedisError, OSError) as exc:
            if not self._failures:
                self._failing_since = time.monotonic()
                logger.warning(
                    "%s: price cache unreachable, prices held until it is back: %s", self._name, exc
                )
            self._failures += 1
            return min(FLUSH_RETRY_BASE_SECONDS * 2**self._failures, FLUSH_RETRY_MAX_SECONDS)
        if self._failures:
            logger.info(
                "%s: price cache reachable again after %.1f s",
                self._name,
                time.monotonic() - self._failing_since,
            )
            self._failures = 0
        return None


class Bookkeeper:
    """One thread for a connection's blocking bookkeeping: database work (Django forbids the
    ORM on a running loop), or the locks' renewal. `submit` never waits; a job still running
    is not queued again, so a slow database delays bookkeeping without piling it up."""

    def __init__(self, *, name: str, thread_prefix: str = "feed-db") -> None:
        self._name = name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_prefix)
        self._running: dict[str, Future] = {}

    def submit(self, fn: Callable[[], object], *, periodic: str | None = None) -> None:
        """Queue `fn`. A `periodic` job (heartbeat, control check) is skipped while its
        previous run is still queued or running; other jobs (state changes) always queue."""
        previous = self._running.get(periodic) if periodic else None
        if previous is not None and not previous.done():
            return
        future = self._executor.submit(self._guarded, fn)
        if periodic:
            self._running[periodic] = future

    def run(self, fn: Callable[[], object], *, timeout: float = 30.0) -> object:
        """Run `fn` and wait for it (start and end of a connection, off its loop)."""
        return self._executor.submit(self._guarded, fn).result(timeout)

    def _guarded(self, fn: Callable[[], object]) -> object:
        """A database or Redis hiccup costs this round's bookkeeping, never the feed."""
        try:
            close_old_connections()  # a long-lived thread: drop a connection gone bad
            return fn()
        except (DatabaseError, redis.RedisError) as exc:
            logger.warning("%s: bookkeeping failed (%s); the feed goes on", self._name, exc)
            return None

    def close(self) -> None:
        """Close the thread's database connection and end the thread; waits for it (a job
        still running is bounded by the database's and Redis's own timeouts)."""
        try:
            self._executor.submit(connections.close_all).result(JOIN_TIMEOUT_SECONDS)
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)
