"""The registry of this process's connection threads: it starts one for a Stream row (any
kind it has a factory for), stops them, and knows which run. One per process, owned by the
process's runtime (`marketstream.runtime`, which gives it the kinds of every app); the
Celery start task reaches it through the Celery app of the process that hosts it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import redis
from celery import Celery
from django.conf import settings

from prices.deployment import current
from streams.kinds import ConnectionKind, KindFactory, StartRefused
from streams.locks import BudgetFull, ConnectionLocks, KeyBusy, LocalSlots
from streams.models import Stream
from streams.records import StreamRecord, record_market_closed
from streams.runner import FeedPolicy
from streams.thread import HANDOVER_REASON, ConnectionThread

logger = logging.getLogger(__name__)

THREAD_JOIN_TIMEOUT_SECONDS = 10.0


class StreamStartError(Exception):
    """A stream that cannot start: unknown instruments, no credentials, a DhanHQ limit."""


@dataclass(frozen=True, slots=True)
class StartOutcome:
    key: str
    started: bool
    message: str


def policy_from_settings() -> FeedPolicy:
    return FeedPolicy(
        max_delay_seconds=settings.DHANHQ_RECONNECT_MAX_DELAY_SECONDS,
        rate_limit_cool_off_seconds=settings.DHANHQ_RATE_LIMIT_COOL_OFF_SECONDS,
        watchdog_silence_seconds=settings.DHANHQ_WATCHDOG_SILENCE_SECONDS,
    )


class ConnectionRegistry:
    """This process's connection threads, by Stream key. Thread-safe."""

    def __init__(self, *, factories: list[KindFactory], policy: FeedPolicy | None = None) -> None:
        self._factories = {f.name: f for f in factories}
        self._policy = policy
        self._threads: dict[str, ConnectionThread] = {}
        self._lock = threading.Lock()
        self._local_slots = LocalSlots()
        self._closed = False  # the worker is stopping: it starts nothing more

    def active_stream_count(self) -> int:
        with self._lock:
            return len(self._threads)

    def active_keys(self) -> list[str]:
        with self._lock:
            return sorted(self._threads)

    def thread(self, key: str) -> ConnectionThread | None:
        with self._lock:
            return self._threads.get(key)

    def _deregister(self, thread: ConnectionThread) -> None:
        with self._lock:
            if self._threads.get(thread.key) is thread:
                del self._threads[thread.key]

    def start(self, key: str) -> StartOutcome:
        """Start the connection thread for `key` and return at once. Raises
        StreamStartError when it cannot start as asked."""
        if self._closed:
            return StartOutcome(key, False, "this worker is stopping; another starts it")
        try:
            stream = Stream.objects.get(key=key)
        except Stream.DoesNotExist:
            raise StreamStartError(f"no stream {key!r}; create it with start_stream") from None
        if stream.desired_state != Stream.Desired.RUNNING:
            return StartOutcome(key, False, "stream is stopped; not starting")
        factory = self._factories.get(stream.kind)
        if factory is None:
            raise StreamStartError(f"this process runs no {stream.kind!r} connections")
        if not factory.in_hours():
            record_market_closed(key)
            return StartOutcome(key, False, "market is closed; the stream starts at the open")
        try:
            kind = factory.build(stream)
        except StartRefused as exc:
            raise StreamStartError(str(exc)) from None
        if self.thread(key) is not None:
            return StartOutcome(key, False, "already running in this worker")
        locks = ConnectionLocks(
            key, client_id=kind.client_id, client=self._redis(), local=self._local_slots
        )
        try:
            locks.acquire()
        except KeyBusy as exc:
            return StartOutcome(key, False, str(exc))
        except BudgetFull as exc:
            raise StreamStartError(str(exc)) from None
        return self._launch(stream, kind, factory=factory, locks=locks)

    @staticmethod
    def _redis() -> redis.Redis | None:
        """The deployment's Redis for the locks; None when embedded (`LocalSlots` then)."""
        return current().redis()

    def _launch(
        self, stream: Stream, kind: ConnectionKind, *, factory: KindFactory, locks: ConnectionLocks
    ) -> StartOutcome:
        """Record the start, then register and start the thread; a failure on the way
        leaves neither a registered thread nor a held lock."""
        record = StreamRecord(stream.key, secrets=(kind.secret,))
        thread = ConnectionThread(
            kind=kind,
            record=record,
            locks=locks,
            generation=stream.generation,
            policy=self._policy or policy_from_settings(),
            in_hours=factory.in_hours,
            on_exit=self._deregister,
        )
        try:
            record.starting(instruments=kind.subjects())
            with self._lock:
                if stream.key in self._threads:  # a concurrent start won
                    locks.release()
                    return StartOutcome(stream.key, False, "already running in this worker")
                if self._closed:  # a hand-over began meanwhile: the key goes to another
                    locks.release()
                    return StartOutcome(stream.key, False, "this worker is stopping")
                self._threads[stream.key] = thread
            thread.start()
        except BaseException:
            self._deregister(thread)
            locks.release()
            thread.books.close()
            thread.keeper.close()
            raise
        count = len(kind.subjects())
        return StartOutcome(stream.key, True, f"started with {count} instruments")

    def stop(self, key: str, *, reason: str, timeout: float = THREAD_JOIN_TIMEOUT_SECONDS) -> bool:
        thread = self.thread(key)
        if thread is None:
            return False
        thread.request_stop(reason)
        thread.join(timeout)
        return not thread.is_alive()

    def request_stop_all(self, *, reason: str) -> list[ConnectionThread]:
        """Ask every thread to stop without waiting (safe in a signal handler)."""
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.request_stop(reason)
        return threads

    def hand_over_all(self) -> list[ConnectionThread]:
        """The worker is stopping gracefully (SIGTERM, a deploy; its runtime calls this):
        start nothing more here, and ask every thread to hand its stream over: it closes
        its socket, leaves its row wanted and `handed_over`, frees its locks and announces
        the key, and another worker starts it at once. Never waits (safe in a signal
        handler); `stop_all_streams` waits for them."""
        with self._lock:
            self._closed = True
        return self.request_stop_all(reason=HANDOVER_REASON)

    def stop_all_streams(
        self, *, reason: str = "shutdown", timeout: float = THREAD_JOIN_TIMEOUT_SECONDS
    ) -> int:
        threads = self.request_stop_all(reason=reason)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return len(threads)


# The Celery app of a process that hosts connections carries its registry, put there by
# the process's runtime (worker start-up, or `run_web` in embedded mode): the start task
# finds it through the app it runs in.
_APP_ATTRIBUTE = "stream_registry"


def host_on(app: Celery, registry: ConnectionRegistry | None) -> None:
    setattr(app, _APP_ATTRIBUTE, registry)


def hosted_registry(app: Celery) -> ConnectionRegistry:
    registry = getattr(app, _APP_ATTRIBUTE, None)
    if registry is None:
        raise StreamStartError("this process hosts no connections (no worker runtime)")
    return registry
