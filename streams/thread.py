"""The connection thread: one per running connection, whatever its kind. It runs the kind on
an event loop of its own (`runner.run_connection`) and keeps everything that may block off
that loop: the writer thread flushes decoded items, the bookkeeper writes the row
(heartbeats, state) and checks control (stop, restart, market close), the keeper renews the
locks. Started and registered by `registry.ConnectionRegistry`; always deregisters on exit,
handing its stream over to another worker when its worker is stopping gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable

from dhan.errors import FeedError
from streams.kinds import ConnectionKind
from streams.locks import ConnectionLocks
from streams.models import Stream
from streams.records import StreamRecord
from streams.runner import ConnectionEvents, FeedPolicy, run_connection
from streams.writer import Bookkeeper, Writer

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_SECONDS = 0.05  # decoded items reach the writer at most this late
HEARTBEAT_INTERVAL_SECONDS = 5.0
CONTROL_CHECK_INTERVAL_SECONDS = 1.0  # stop requests and the market close noticed within this
LOCK_RENEW_INTERVAL_SECONDS = 1.0  # liveness.RENEWAL_GRACE_SECONDS allows two missed renewals
# The stop reason of a worker stopping gracefully (SIGTERM, a deploy): the stream is handed
# over (its row `handed_over`, still wanted; its locks freed and announced), not stopped.
HANDOVER_REASON = "worker shutdown: handed over"


class ConnectionThread(threading.Thread):
    """Runs one connection until it is asked to stop, its hours end, or retrying cannot
    help. `request_stop` works from any thread and in every state of the connection."""

    def __init__(
        self,
        *,
        kind: ConnectionKind,
        record: StreamRecord,
        locks: ConnectionLocks,
        generation: int,
        policy: FeedPolicy,
        in_hours: Callable[[], bool],
        on_exit: Callable[[ConnectionThread], None],
    ) -> None:
        super().__init__(name=f"feed[{kind.key[:80]}]", daemon=True)
        self.key = kind.key
        self.kind = kind
        self.generation = generation
        self.record = record
        self._locks = locks
        self._policy = policy
        self._in_hours = in_hours
        self._on_exit = on_exit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_reason = ""
        self._ready = threading.Event()
        self.reconnects = 0
        self.fatal: FeedError | None = None  # what ended the connection for good
        self.writer = Writer(kind.flush, name=f"stream {self.key}")
        self.books = Bookkeeper(name=f"stream {self.key}")
        # The locks' renewal is the proof this connection lives (liveness.py): it gets a
        # thread of its own, so that a slow database never makes the worker look gone.
        self.keeper = Bookkeeper(name=f"stream {self.key} locks", thread_prefix="feed-lock")

    def request_stop(self, reason: str) -> None:
        """Ask the thread to stop; it says goodbye upstream and ends within about a second."""
        self._ready.wait(5)
        self._stop_reason = self._stop_reason or reason
        if self._loop is not None and self._stop_event is not None:
            try:
                self._loop.call_soon_threadsafe(self._stop_event.set)
            except RuntimeError:
                pass  # loop already closed: the thread is on its way out

    def run(self) -> None:
        """The thread's body: the connection, then its end recorded whatever happened."""
        state, error = Stream.State.STOPPED, ""
        self.writer.start()
        try:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._main())
        except FeedError as exc:
            state, error = Stream.State.ERROR, str(exc)
            self.fatal = exc
            self._stop_reason = self._stop_reason or "feed error"
            logger.error("stream %s stopped: %s", self.key, exc)
        except Exception as exc:  # the thread's last resort: record it, never die silently
            state, error = Stream.State.ERROR, f"{type(exc).__name__}: {exc}"
            self._stop_reason = self._stop_reason or "crashed"
            logger.exception("stream %s crashed", self.key)
        finally:
            self._finish(state, error)

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        self._ready.set()
        events = _Events(self)
        await run_connection(
            kind=self.kind, stop=self._stop_event, events=events, policy=self._policy
        )

    def _finish(self, state: str, error: str) -> None:
        if self._stop_reason == "market closed":
            state = Stream.State.MARKET_CLOSED
        handing_over = self._stop_reason == HANDOVER_REASON and state == Stream.State.STOPPED
        if handing_over:
            state = Stream.State.HANDED_OVER
        try:
            self.kind.collect()
            self.writer.stop()  # one last flush
            counts = {
                "ticks_received": self.kind.items_received,
                "malformed_frames": self.kind.malformed,
                "reconnects": self.reconnects,
            }
            self.books.run(
                lambda: self.record.ended(
                    state=state, reason=self._stop_reason, error=error, counts=counts
                )
            )
        finally:  # whatever failed above, nothing of this connection may outlive it
            with contextlib.ExitStack() as cleanup:  # every step runs, last pushed first
                reason = self._stop_reason or state
                cleanup.callback(logger.info, "stream %s ended (%s)", self.key, reason)
                cleanup.callback(self._exited)
                # Last of all, after the row's end was written and with no renewal left in
                # flight: a successor's start is never overwritten, the locks never retaken.
                cleanup.callback(self._locks.hand_over if handing_over else self._locks.release)
                cleanup.callback(self.keeper.close)
                cleanup.callback(self.books.close)
                cleanup.callback(self.kind.close)
                self.kind.ended(self.fatal)

    def _exited(self) -> None:
        self._on_exit(self)
        if self._loop is not None:
            self._loop.close()

    # --- bookkeeping (runs on the bookkeeper thread) -----------------------------------

    def heartbeat(self, *, ticked: bool) -> None:
        kind = self.kind
        self.record.heartbeat(items=kind.items_received, malformed=kind.malformed, ticked=ticked)
        kind.heartbeat()

    def check_control(self) -> None:
        desired, generation = self.record.wanted()
        if desired != Stream.Desired.RUNNING:
            self.request_stop("stop requested" if desired else "stream deleted")
        elif generation != self.generation:
            self.request_stop("restart requested")
        elif not self._in_hours():
            self.request_stop("market closed")
        elif reason := self.kind.control():
            self.request_stop(reason)

    def renew_locks(self) -> None:
        """On the keeper thread, every second while the loop runs."""
        if not self._locks.renew():
            self.request_stop("lost the stream lock")


class _Events(ConnectionEvents):
    """The runner's reports, turned into flushes and bookkeeping that never block the loop."""

    def __init__(self, thread: ConnectionThread) -> None:
        self.t = thread
        now = time.monotonic()
        self._last_flush = self._last_beat = self._last_control = self._last_renew = now
        self._ticked_since_beat = False
        self._first_since_connect = False

    async def connected(self, *, reconnects: int) -> None:
        t = self.t
        t.reconnects = reconnects
        t.books.submit(lambda: t.record.running(reconnects=reconnects))
        # Health is `healthy` as soon as data flows: beat now, and again at the first item.
        self._beat(ticked=False)
        self._first_since_connect = True
        logger.info("stream %s subscribed", t.key)

    async def received(self) -> None:
        self._ticked_since_beat = True
        if self._first_since_connect:
            self._first_since_connect = False
            self._beat(ticked=True, queue=True)
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL_SECONDS:
            self._collect(now)

    async def disconnected(self, error: FeedError, *, delay_seconds: float) -> None:
        t = self.t
        logger.warning(
            "stream %s disconnected (%s); reconnecting in %.1f s", t.key, error, delay_seconds
        )
        t.books.submit(lambda: t.record.reconnecting(str(error)))

    async def idle(self) -> None:
        now = time.monotonic()
        self._collect(now)
        if now - self._last_beat >= HEARTBEAT_INTERVAL_SECONDS:
            ticked, self._ticked_since_beat = self._ticked_since_beat, False
            self._beat(ticked=ticked)
        if now - self._last_control >= CONTROL_CHECK_INTERVAL_SECONDS:
            self._last_control = now
            self.t.books.submit(self.t.check_control, periodic="control")
        if now - self._last_renew >= LOCK_RENEW_INTERVAL_SECONDS:
            self._last_renew = now
            self.t.keeper.submit(self.t.renew_locks, periodic="renew")

    def _collect(self, now: float) -> None:
        self._last_flush = now
        if self.t.kind.collect():
            self.t.writer.wake()

    def _beat(self, *, ticked: bool, queue: bool = False) -> None:
        """A heartbeat; `queue` ones (the first item after a connect) are never skipped."""
        self._last_beat = time.monotonic()
        periodic = None if queue else "heartbeat"
        self.t.books.submit(lambda: self.t.heartbeat(ticked=ticked), periodic=periodic)
