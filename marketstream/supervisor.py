"""Feed threads, one per stream key, and the supervisor that owns them.

The Celery task `start_stream_task` calls `supervisor.start(key)`, which returns at once;
the named thread runs the feed (`marketstream.feed.run_feed`) into the price sink until it
is asked to stop (any process: the Stream row's desired state), the market closes, or the
credentials fail. One live feed per key across workers: a Redis lock the thread renews.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import redis
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone

from marketstream.calendar import market_is_open
from marketstream.feed import (
    MAX_CONNECTIONS_PER_CLIENT,
    FeedCredentials,
    FeedError,
    FeedEvents,
    FeedPolicy,
    run_feed,
)
from marketstream.logredact import redact
from marketstream.models import Stream
from marketstream.protocol import (
    MAX_INSTRUMENTS_PER_CONNECTION,
    Decoder,
    FeedMode,
    InstrumentKey,
    LtpScanner,
)
from marketstream.streamkeys import StreamKeyError, parse_stream_key, resolve_instruments
from prices.cache import PriceSink, redis_client

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_SECONDS = 0.05
FLUSH_RETRY_MAX_SECONDS = 2.0  # the longest a flush waits to retry while Redis is away
HEARTBEAT_INTERVAL_SECONDS = 5.0
CONTROL_CHECK_INTERVAL_SECONDS = 2.0  # stop requests and market close noticed within this
LOCK_TTL_SECONDS = 30  # renewed every CONTROL_CHECK_INTERVAL_SECONDS by the thread
THREAD_JOIN_TIMEOUT_SECONDS = 10.0


class StreamStartError(Exception):
    """A stream that cannot start: unknown instruments, no credentials, closed market."""


@dataclass(frozen=True, slots=True)
class StartOutcome:
    key: str
    started: bool
    message: str


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - a name, not a secret


class _StreamLock:
    """One live feed per key, and at most MAX_CONNECTIONS_PER_CLIENT feeds per client id,
    across processes: Redis locks with a TTL that the feed thread renews (a crashed worker's
    locks expire). Embedded mode has one process, whose registry does the same job."""

    def __init__(self, key: str) -> None:
        self._key_lock = None
        self._slot_lock = None
        self._client = redis_client(settings.REDIS_URL) if settings.REDIS_URL else None
        self._key = key

    def acquire(self) -> str | None:
        """None when both are held; otherwise why not."""
        if self._client is None:
            return None
        key_lock = self._client.lock(
            "market_stream:lock:" + _digest(self._key), timeout=LOCK_TTL_SECONDS, thread_local=False
        )
        if not key_lock.acquire(blocking=False):
            return "already running in another worker"
        client = _digest(settings.DHANHQ_CLIENT_ID)
        for slot in range(MAX_CONNECTIONS_PER_CLIENT):
            slot_lock = self._client.lock(
                f"market_stream:connection:{client}:{slot}",
                timeout=LOCK_TTL_SECONDS,
                thread_local=False,
            )
            if slot_lock.acquire(blocking=False):
                self._key_lock, self._slot_lock = key_lock, slot_lock
                return None
        key_lock.release()
        return (
            f"DhanHQ allows {MAX_CONNECTIONS_PER_CLIENT} feed connections per client id "
            "and all are in use: stop a stream first"
        )

    def renew(self) -> bool:
        """False only when another feed holds this key (or every connection slot) now.

        Redis unreachable: keep going; nobody can take the locks while it is down, and the
        stream's heartbeat (in the database) keeps the supervisor from starting another.
        Locks gone when it is back (a restart, or down longer than their TTL): take them
        again if they are free."""
        if self._client is None:
            return True
        try:
            if all(lock.reacquire() for lock in (self._key_lock, self._slot_lock) if lock):
                return True
        except redis.exceptions.LockError:
            pass
        except redis.RedisError as exc:
            logger.warning(
                "stream %s: cannot renew its lock, Redis unreachable (%s); the feed goes on",
                self._key,
                exc,
            )
            return True
        logger.warning("stream %s: its lock lapsed; taking it again", self._key)
        self.release()
        try:
            return self.acquire() is None
        except redis.RedisError:
            return True  # unreachable again: the next round tries

    def release(self) -> None:
        """Never raises: a lock that cannot be released (Redis down) lapses by its TTL."""
        for lock in (self._slot_lock, self._key_lock):
            if lock is not None:
                try:
                    lock.release()
                except redis.exceptions.LockError:
                    pass  # expired already; the token check never frees another's lock
                except redis.RedisError as exc:
                    logger.warning("stream %s: lock left to expire (%s)", self._key, exc)
        self._key_lock = self._slot_lock = None


def _clean(error: str) -> str:
    """What may be stored and shown (admin, status, health): never the token."""
    return redact(error, secrets=(settings.DHANHQ_ACCESS_TOKEN,))[:2000]


class FeedThread(threading.Thread):
    """Runs one stream's feed on its own asyncio loop. Always deregisters on exit."""

    def __init__(
        self,
        *,
        supervisor: StreamSupervisor,
        key: str,
        keys: list[InstrumentKey],
        tick_sizes: dict[tuple[int, int], float],
        mode: FeedMode,
        lock: _StreamLock,
        generation: int = 0,
        policy: FeedPolicy | None = None,
    ) -> None:
        super().__init__(name=f"feed[{key[:80]}]", daemon=True)
        self.key = key
        self.generation = generation
        self._supervisor = supervisor
        self._keys = keys
        self.scanner = LtpScanner(Decoder(tick_sizes))
        self._mode = mode
        self._lock = lock
        self._policy = policy or FeedPolicy.from_settings()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_reason = ""
        self._ready = threading.Event()
        self.sink = PriceSink()
        self.reconnects = 0
        # Django forbids the ORM on a running event loop: the feed's DB work goes to one
        # thread of its own (one connection per stream, closed when the stream ends).
        self._db_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feed-db")

    # --- control (any thread) -------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        self._ready.wait(5)
        self._stop_reason = self._stop_reason or reason
        if self._loop is not None and self._stop_event is not None:
            try:
                self._loop.call_soon_threadsafe(self._stop_event.set)
            except RuntimeError:
                pass  # loop already closed: the thread is on its way out

    # --- the thread -----------------------------------------------------------------

    def run(self) -> None:
        state, error = Stream.State.STOPPED, ""
        try:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._main())
        except FeedError as exc:
            state, error = Stream.State.ERROR, str(exc)
            self._stop_reason = self._stop_reason or "feed error"
            logger.error("stream %s stopped: %s", self.key, exc)
        except Exception as exc:  # the thread's last resort: record it, never die silently
            state, error = Stream.State.ERROR, f"{type(exc).__name__}: {exc}"
            self._stop_reason = self._stop_reason or "crashed"
            logger.exception("stream %s crashed", self.key)
        finally:
            self._finish(state, error)

    def _finish(self, state: str, error: str) -> None:
        try:
            self._flush()
        except redis.RedisError as exc:
            logger.warning("stream %s: last flush failed: %s", self.key, exc)
        if self._stop_reason == "market closed":
            state = Stream.State.MARKET_CLOSED
        fields = {
            "state": state,
            "stopped_reason": self._stop_reason[:200],
            "ticks_received": self.scanner.packets,
            "reconnects": self.reconnects,
            "worker_pid": None,
        }
        if error:
            fields["last_error"] = _clean(error)
            if state == Stream.State.ERROR:
                fields["desired_state"] = Stream.Desired.STOPPED
        try:
            self._db_executor.submit(self._update, **fields).result(30)
        except DatabaseError:
            logger.exception("stream %s: could not record its end", self.key)
        finally:
            try:
                self._db_executor.submit(connections.close_all).result(30)
                self._db_executor.shutdown()
                self._lock.release()
            finally:  # whatever failed above, the registry must not keep a dead thread
                self._supervisor._deregister(self)
                if self._loop is not None:
                    self._loop.close()
                logger.info("stream %s ended (%s)", self.key, self._stop_reason or state)

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        self._ready.set()
        creds = FeedCredentials(
            settings.DHANHQ_FEED_URL, settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN
        )
        await run_feed(
            credentials=creds,
            scanner=self.scanner,
            keys=self._keys,
            mode=self._mode,
            stop=self._stop_event,
            events=_Events(self),
            policy=self._policy,
        )

    # --- called on the feed loop ----------------------------------------------------

    def _flush(self) -> None:
        """Latest price per key from the scanner into the sink, and the sink to the cache."""
        self.sink.put_many(self.scanner.drain().items())
        self.sink.put_prev_closes(self.scanner.drain_prev_close())
        self.sink.flush()

    async def db(self, fn: Callable[..., object], /, **kwargs: object) -> object:
        """Run `fn` on the stream's DB thread. A database hiccup costs this round's
        bookkeeping, never the feed: it is logged and the next round tries again."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._db_executor, partial(fn, **kwargs))
        except DatabaseError as exc:
            logger.warning("stream %s: database unavailable (%s); feed continues", self.key, exc)
            return None

    def _update(self, **fields: object) -> None:
        close_old_connections()
        Stream.objects.filter(key=self.key).update(**fields, updated_at=timezone.now())

    def _check_control(self) -> None:
        close_old_connections()
        row = Stream.objects.filter(key=self.key).values_list("desired_state", "generation")
        desired, generation = row.first() or (None, None)
        if desired != Stream.Desired.RUNNING:
            self.request_stop("stop requested" if desired else "stream deleted")
        elif generation != self.generation:
            self.request_stop("restart requested")
        elif not market_is_open():
            self.request_stop("market closed")
        elif not self._lock.renew():
            self.request_stop("lost the stream lock")


class _Events(FeedEvents):
    def __init__(self, thread: FeedThread) -> None:
        self.t = thread
        now = time.monotonic()
        self._last_flush = self._last_beat = self._last_control = now
        self._ticked_since_beat = False
        self._flush_failures = 0
        self._flush_retry_at = self._flush_failing_since = 0.0

    async def connected(self, *, reconnects: int) -> None:
        self.t.reconnects = reconnects
        await self.t.db(
            self.t._update, state=Stream.State.RUNNING, reconnects=reconnects, last_error=""
        )
        logger.info("stream %s subscribed %d instruments", self.t.key, len(self.t._keys))

    async def received(self, packet_count: int) -> None:
        self._ticked_since_beat = True
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL_SECONDS:
            self._flush(now)

    async def disconnected(self, error: FeedError, *, delay_seconds: float) -> None:
        logger.warning(
            "stream %s disconnected (%s); reconnecting in %.1f s", self.t.key, error, delay_seconds
        )
        await self.t.db(
            self.t._update, state=Stream.State.RECONNECTING, last_error=_clean(str(error))
        )

    def _flush(self, now: float) -> None:
        """Failures keep the prices (latest per key) and back off, up to
        FLUSH_RETRY_MAX_SECONDS: a Redis that times out blocks this loop per attempt."""
        if now < self._flush_retry_at:
            return
        self._last_flush = now
        try:
            self.t._flush()
        except redis.RedisError as exc:
            if not self._flush_failures:
                logger.warning(
                    "stream %s: price cache unreachable, prices held until it is back: %s",
                    self.t.key,
                    exc,
                )
                self._flush_failing_since = now
            self._flush_failures += 1
            self._flush_retry_at = now + min(
                FLUSH_INTERVAL_SECONDS * 2**self._flush_failures, FLUSH_RETRY_MAX_SECONDS
            )
            return
        if self._flush_failures:
            logger.info(
                "stream %s: price cache reachable again after %.1f s",
                self.t.key,
                now - self._flush_failing_since,
            )
            self._flush_failures = 0

    async def idle(self) -> None:
        now = time.monotonic()
        self._flush(now)
        if now - self._last_beat >= HEARTBEAT_INTERVAL_SECONDS:
            self._last_beat = now
            await self.t.db(self._heartbeat)
        if now - self._last_control >= CONTROL_CHECK_INTERVAL_SECONDS:
            self._last_control = now
            await self.t.db(self.t._check_control)

    def _heartbeat(self) -> None:
        fields: dict[str, object] = {
            "last_heartbeat": timezone.now(),
            "ticks_received": self.t.scanner.packets,
        }
        if self._ticked_since_beat:
            fields["last_tick_at"] = fields["last_heartbeat"]
            self._ticked_since_beat = False
        self.t._update(**fields)
        try:
            self.t.sink.heartbeat()
        except redis.RedisError as exc:
            logger.warning("heartbeat to Redis failed: %s", exc)


class StreamSupervisor:
    """The registry of this process's feed threads. Thread-safe."""

    def __init__(self) -> None:
        self._threads: dict[str, FeedThread] = {}
        self._lock = threading.Lock()

    def active_stream_count(self) -> int:
        with self._lock:
            return len(self._threads)

    def active_keys(self) -> list[str]:
        with self._lock:
            return sorted(self._threads)

    def thread(self, key: str) -> FeedThread | None:
        with self._lock:
            return self._threads.get(key)

    def _deregister(self, thread: FeedThread) -> None:
        with self._lock:
            if self._threads.get(thread.key) is thread:
                del self._threads[thread.key]

    def start(self, key: str, *, policy: FeedPolicy | None = None) -> StartOutcome:
        """Start the feed thread for `key` and return at once."""
        try:
            stream = Stream.objects.get(key=key)
        except Stream.DoesNotExist:
            raise StreamStartError(f"no stream {key!r}; create it with start_stream") from None
        if stream.desired_state != Stream.Desired.RUNNING:
            return StartOutcome(key, False, "stream is stopped; not starting")
        if not market_is_open():
            Stream.objects.filter(pk=stream.pk).update(state=Stream.State.MARKET_CLOSED)
            return StartOutcome(key, False, "market is closed; the stream starts at the open")
        check_credentials()
        try:
            instruments = resolve_instruments(parse_stream_key(key))
        except StreamKeyError as exc:
            raise StreamStartError(str(exc)) from None
        if len(instruments) > MAX_INSTRUMENTS_PER_CONNECTION:
            raise StreamStartError(
                f"{len(instruments)} instruments exceed DhanHQ's "
                f"{MAX_INSTRUMENTS_PER_CONNECTION} per connection: split the stream"
            )
        with self._lock:
            if key in self._threads:
                return StartOutcome(key, False, "already running in this worker")
            if not settings.REDIS_URL and len(self._threads) >= MAX_CONNECTIONS_PER_CLIENT:
                raise StreamStartError(
                    f"DhanHQ allows {MAX_CONNECTIONS_PER_CLIENT} feed connections per client "
                    "id and all are in use: stop a stream first"
                )
            lock = _StreamLock(key)
            refused = lock.acquire()
            if refused is not None:
                if "connections" in refused:
                    raise StreamStartError(refused)
                return StartOutcome(key, False, refused)
            thread = FeedThread(
                supervisor=self,
                key=key,
                keys=[i.instrument_key for i in instruments],
                tick_sizes={
                    (i.instrument_key.segment, i.security_id): float(i.tick_size)
                    for i in instruments
                },
                mode=FeedMode.parse(stream.mode),
                lock=lock,
                generation=stream.generation,
                policy=policy,
            )
            self._threads[key] = thread
        Stream.objects.filter(pk=stream.pk).update(
            state=Stream.State.STARTING,
            worker_host=socket.gethostname(),
            worker_pid=os.getpid(),
            started_at=timezone.now(),
            last_heartbeat=timezone.now(),
            stopped_reason="",
            instruments=[i.key for i in instruments],
        )
        thread.start()
        return StartOutcome(key, True, f"started with {len(instruments)} instruments")

    def stop(self, key: str, *, reason: str, timeout: float = THREAD_JOIN_TIMEOUT_SECONDS) -> bool:
        thread = self.thread(key)
        if thread is None:
            return False
        thread.request_stop(reason)
        thread.join(timeout)
        return not thread.is_alive()

    def request_stop_all(self, *, reason: str) -> list[FeedThread]:
        """Ask every feed thread to stop without waiting (safe in a signal handler)."""
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.request_stop(reason)
        return threads

    def stop_all_streams(
        self, *, reason: str = "shutdown", timeout: float = THREAD_JOIN_TIMEOUT_SECONDS
    ) -> int:
        threads = self.request_stop_all(reason=reason)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return len(threads)


def check_credentials() -> None:
    if not settings.DHANHQ_WS_ENABLED:
        raise StreamStartError("feeds are disabled (DHANHQ_WS_ENABLED=false)")
    if not (settings.DHANHQ_CLIENT_ID and settings.DHANHQ_ACCESS_TOKEN):
        raise StreamStartError("DHANHQ_CLIENT_ID and DHANHQ_ACCESS_TOKEN must be set")


supervisor = StreamSupervisor()
