"""One runtime object per process, made where the process starts, that starts and stops
every thread and task the process runs, in one place and with timeouts. It is where the
apps are composed: each process's connection registry gets the connection kinds of every
app (the stream layer's market feed and depth socket, the orders app's order socket, told
to refresh the portfolio app's holdings after a fill), and its loops (`BackgroundLoop`s).

- `WebRuntime` (the ASGI app, `marketstream.asgi`; `run_web`): live prices (broadcaster
  and fan-out) and, in embedded mode, the connections and the supervision loop too.
- `WorkerRuntime` (the Celery worker, `marketstream.celery`): the connections (handed over
  to another worker when it stops gracefully), the takeover watcher, and the depth
  supervisor that opens the depth socket while anyone watches depth.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

from celery import Celery, current_app
from django.conf import settings
from django.db import close_old_connections

from alerts.service import AlertService
from orders.orderfeed import order_updates_factory
from portfolio.tasks import refresh_task
from prices.cache import LocalPriceStore
from prices.depthwatch import DepthInterest, LocalDepthInterest, depth_interest
from prices.health import market_health
from prices.live import LivePrices, LivePricesMiddleware
from prices.loops import BackgroundLoop
from streams.depth import depth_factory
from streams.depthsupervisor import DepthSupervisor
from streams.health import stream_rows
from streams.marketfeed import market_feed_factory
from streams.registry import ConnectionRegistry, host_on
from streams.supervision import supervise
from streams.takeover import TakeoverWatcher
from streams.thread import HANDOVER_REASON

logger = logging.getLogger(__name__)

SUPERVISE_INTERVAL_SECONDS = 5.0  # embedded mode's stand-in for beat (15 s there)
PORTFOLIO_REFRESH_SECONDS = 300.0
SCREENS_DUE_SECONDS = 60.0
AFTER_CLOSE_WINDOW_MINUTES = 10
IST = timezone(timedelta(hours=5, minutes=30))
STOP_TIMEOUT_SECONDS = 10.0


def feed_status() -> str:
    """The feed's state for clients' `status` messages (called off the loop)."""
    close_old_connections()
    return market_health(rows=stream_rows).feed


def refresh_portfolio(account_id: int) -> None:
    """A fill on an account's order socket: its portfolio, refreshed by a task."""
    refresh_task.delay(account_id)


def connection_registry(
    *, interest: DepthInterest | None = None, store: LocalPriceStore | None = None
) -> ConnectionRegistry:
    """A registry with every connection kind this project runs; depth follows `interest`
    (the deployment's: Redis, or embedded mode's in-process one)."""
    return ConnectionRegistry(
        factories=[
            market_feed_factory(store=store),
            depth_factory(interest=interest or depth_interest(), store=store),
            order_updates_factory(on_fill=refresh_portfolio),
        ]
    )


class EmbeddedBeat(BackgroundLoop):
    """Embedded mode's beat: the supervision step every few seconds (it starts wanted
    streams in this process, through the eager start task), every account's portfolio
    every five minutes, the screens due each minute (`screeners.run_due`), and the
    after-close jobs in the ten minutes after their time (settings.AFTER_CLOSE), once a
    day, when the process is up then."""

    name = "embedded-beat"
    failure_wait_seconds = SUPERVISE_INTERVAL_SECONDS

    def __init__(
        self,
        *,
        interval_seconds: float = SUPERVISE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now_ist: Callable[[], datetime] = lambda: datetime.now(IST),
    ) -> None:
        super().__init__()
        self._interval = interval_seconds
        self._clock = clock
        self._portfolios_at: float | None = None  # never yet: at the first step
        self._screens_at: float | None = None
        self._after_close_on: dict[str, date] = {}  # task -> the IST day it last ran
        self._now_ist = now_ist

    def step(self) -> float:
        supervise()
        now = self._clock()
        if self._portfolios_at is None or now - self._portfolios_at >= PORTFOLIO_REFRESH_SECONDS:
            self._portfolios_at = now
            refresh_task()
        if self._screens_at is None or now - self._screens_at >= SCREENS_DUE_SECONDS:
            self._screens_at = now
            current_app.tasks["screeners.run_due"].delay()
        ist = self._now_ist()
        for task, minute in settings.AFTER_CLOSE:
            late = ist.hour * 60 + ist.minute - (15 * 60 + minute)
            if (
                0 <= late < AFTER_CLOSE_WINDOW_MINUTES
                and self._after_close_on.get(task) != ist.date()
            ):
                self._after_close_on[task] = ist.date()
                current_app.tasks[task].delay()
        return self._interval


class WebRuntime:
    """A web process. `hosts_connections` (embedded mode): it also runs the connections,
    their supervision, and Celery's tasks in-process (CELERY_TASK_ALWAYS_EAGER)."""

    def __init__(self, *, hosts_connections: bool, celery_app: Celery | None = None) -> None:
        store = LocalPriceStore() if hosts_connections else None
        self.local_store = store  # embedded mode: where this process's feeds write prices
        # Embedded mode: this process's depth watchers are the deployment's.
        interest = LocalDepthInterest() if hosts_connections else None
        self.live = LivePrices(status=feed_status, local_store=store, local_interest=interest)
        self.registry = None
        self._loops: tuple[BackgroundLoop, ...] = ()
        if hosts_connections:
            assert interest is not None
            self.registry = connection_registry(interest=interest, store=store)
            self._loops = (
                EmbeddedBeat(),
                DepthSupervisor(self.registry, interest),
                AlertService(local_store=store),
            )
        self._celery_app = celery_app
        self._server_hooked = False

    def start(self) -> None:
        """Before serving: connections and their supervision (embedded mode only)."""
        if self.registry is not None and self._celery_app is not None:
            host_on(self._celery_app, self.registry)
        for loop in self._loops:
            loop.start()

    def stop(self) -> int:
        """After serving: the loops, then every connection. Returns how many connections
        it stopped."""
        for loop in self._loops:
            loop.stop()
        if self.registry is None:
            return 0
        stopped = self.registry.stop_all_streams(
            reason="web process exiting", timeout=STOP_TIMEOUT_SECONDS
        )
        if self._celery_app is not None:
            host_on(self._celery_app, None)
        return stopped

    def serving(self) -> None:
        """Called with every ASGI scope, on the serving loop: ties `live`'s end to the
        server's the first time. daphne implements no ASGI lifespan; its shutdown is
        Twisted's, so `live` stops in Twisted's "before shutdown" phase (as daphne's own
        applications do), releasing the broadcaster's lead before the sockets close."""
        if self._server_hooked:
            return
        self._server_hooked = True
        # Imported here, not at the top: importing it installs Twisted's asyncio reactor,
        # which only a process that daphne serves has (and has by now).
        from daphne.server import reactor
        from twisted.internet.defer import Deferred

        if reactor.running:
            reactor.addSystemEventTrigger(
                "before",
                "shutdown",
                lambda: Deferred.fromFuture(asyncio.ensure_future(self.live.stop())),
            )


class RuntimeMiddleware(LivePricesMiddleware):
    """The ASGI app's outermost layer: the runtime's services in every scope."""

    def __init__(self, inner, runtime: WebRuntime) -> None:
        super().__init__(inner, runtime.live)
        self.runtime = runtime

    async def __call__(self, scope, receive, send):
        self.runtime.serving()
        return await super().__call__(scope, receive, send)


class WorkerRuntime:
    """A Celery worker: it hosts the connections its start tasks start."""

    def __init__(self, celery_app: Celery) -> None:
        interest = depth_interest()
        self.registry = connection_registry(interest=interest)
        self._takeover = TakeoverWatcher(self.registry)  # a dead or stopping worker's streams
        self._loops: tuple[BackgroundLoop, ...] = (
            self._takeover,
            DepthSupervisor(self.registry, interest),
            AlertService(),  # the leader among the workers evaluates alerts
        )
        self._celery_app = celery_app

    def start(self) -> None:
        host_on(self._celery_app, self.registry)
        for loop in self._loops:
            loop.start()

    def request_stop(self) -> None:
        """SIGTERM (warm shutdown, a deploy): every connection hands its stream over at once
        (another worker starts it within seconds; with none left, the next to start does),
        and this worker takes nothing over meanwhile..."""
        self._takeover.request_stop()
        self.registry.hand_over_all()
        for loop in self._loops:
            loop.stop()

    def stop(self) -> None:
        """...and the worker waits for them: no thread, socket or lock outlives it."""
        for loop in self._loops:
            loop.stop()
        self.registry.hand_over_all()  # a no-op after request_stop, as on SIGTERM
        self.registry.stop_all_streams(reason=HANDOVER_REASON, timeout=STOP_TIMEOUT_SECONDS)
        host_on(self._celery_app, None)
