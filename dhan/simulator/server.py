"""`DhanSimulator`: a local DhanHQ (the v2 market feed, 20-level depth on the same port at
`/twentydepth`, live order updates on it at `/orderupdate`, and REST: the market quote and
orders, matched on the simulator's own prices, and price history consistent with what the
feed streamed) for the demo and the tests, speaking the real protocols so the official
`dhanhq` SDK works against it, for every account of `SimulatorConfig.accounts`. Run by
`manage.py dhan_simulator`; tests start it in a thread with `start()`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from dhan.segments import InstrumentKey
from dhan.simulator.archive import PriceArchive
from dhan.simulator.bars import Bar
from dhan.simulator.book import PriceBook
from dhan.simulator.charts import ChartServer, DataCallCounts
from dhan.simulator.config import SimulatorConfig
from dhan.simulator.controls import AccountAndOrderControls
from dhan.simulator.depth import DEPTH_PATH, DepthServer
from dhan.simulator.feed import FeedServer
from dhan.simulator.history import DERIVATIVE_SEGMENTS
from dhan.simulator.minutes import MinuteRecorder
from dhan.simulator.orders import OrderBook
from dhan.simulator.ordershapes import alert_text
from dhan.simulator.ordersocket import ORDER_UPDATE_PATH, OrderSocketServer
from dhan.simulator.rest import RestServer

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 1 << 20


class DhanSimulator(AccountAndOrderControls):
    """The simulator: `start()` runs it in a background thread; `stop()` ends it. The
    controls of accounts, orders and the order socket are `controls`'s."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        tick_size: Callable[[InstrumentKey], float] | None = None,
        base_prices: Mapping[str, float] | None = None,
        symbols: Mapping[str, str] | None = None,  # "NSE_EQ:2885" -> its trading symbol
        clock: Callable[[], float] = time.time,  # the feed's LTT and the history's today
    ) -> None:
        self.config = config or SimulatorConfig()
        rng = random.Random(self.config.seed)
        self.prices = PriceBook(
            tick_size=tick_size or (lambda key: 0.05), base_prices=base_prices or {}, rng=rng
        )
        names = symbols or {}
        self.orders = OrderBook(self.prices, symbol=lambda key: names.get(str(key), str(key)))
        self.order_socket = OrderSocketServer(self.config)
        self.orders.listener = lambda o: self.order_socket.publish(o.client_id, alert_text(o))
        self.depth = DepthServer(self.config, self.prices)
        self._clock = clock
        # the feed's open interest of a derivative is its day's volume times 10
        self.minutes = MinuteRecorder(oi_per_volume=dict.fromkeys(DERIVATIVE_SEGMENTS, 10))
        self.feed = FeedServer(
            self.config,
            self.prices,
            recorder=self.minutes,
            after_tick=self._after_tick,
            clock=clock,
        )
        archive = PriceArchive(self.prices, self.minutes, clock=clock)
        self.charts = ChartServer(self.config, archive)
        self.rest = RestServer(self.config, self.prices, self.orders, self.charts)
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None

    # --- what tests read and set ------------------------------------------------------

    @property
    def silent(self) -> bool:
        """Keep sockets open but send nothing (watchdog tests)."""
        return self.feed.silent

    @silent.setter
    def silent(self, value: bool) -> None:
        self.feed.silent = value

    @property
    def connections_total(self) -> int:
        return self.feed.connections_total

    @property
    def connection_count(self) -> int:
        return len(self.feed.sessions)

    @property
    def requests(self) -> list[tuple[int, dict | str]]:
        """(session number, request) for every feed request, in order."""
        return self.feed.requests

    def subscribed_keys(self) -> set[InstrumentKey]:
        return {key for s in list(self.feed.sessions) for key in list(s.subscriptions)}

    @property
    def rest_port(self) -> int:
        return self.rest.port

    @property
    def rest_calls(self) -> int:
        return self.rest.calls

    @property
    def rest_call_times(self) -> list[float]:
        return self.rest.call_times

    @property
    def rest_rejections(self) -> int:
        return self.rest.rejections

    def rest_request(
        self, path: str, *, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict | list]:
        return self.rest.rest_request(path, headers=headers, body=body)

    def data_call_counts(self) -> dict[str, DataCallCounts]:
        """Each client id's chart (Data API) calls: served, refused (429) and
        not_subscribed (403)."""
        return self.charts.counts()

    def streamed_minutes(self, key: InstrumentKey, *, include_forming: bool = False) -> list[Bar]:
        """Today's 1-minute bars of what the feed streamed for `key`: the completed ones
        (as the chart API serves them), or with the one still forming."""
        return self.minutes.bars(key, now=self._clock(), include_forming=include_forming)

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> DhanSimulator:
        self._thread = threading.Thread(target=self._run, name="dhan-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error:
            raise RuntimeError(f"simulator failed to start: {self._error!r}")
        return self

    def stop(self) -> None:
        """Idempotent: a stopped simulator's loop is closed."""
        if self._loop and self._stopping and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread:
            self._thread.join(10)
        self.rest.stop()

    def serve_forever(self) -> None:
        """Blocking run for the management command; returns on KeyboardInterrupt."""
        self._run()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start(); a thread cannot raise to it
            self._error = exc
            self._ready.set()
            if not isinstance(exc, (KeyboardInterrupt, OSError)):
                raise
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        cfg = self.config
        async with serve(
            self._route,
            cfg.host,
            cfg.port,
            max_size=MAX_FRAME_BYTES,
            ping_interval=cfg.ping_interval_seconds,
            ping_timeout=cfg.ping_timeout_seconds,
            process_request=self._process_request,
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            self.rest.start(cfg.rest_port if cfg.rest_port is not None else self._rest_port())
            logger.info(
                "DhanHQ simulator: feed ws://%s:%d, REST http://%s:%d/v2",
                cfg.host,
                self.port,
                cfg.host,
                self.rest_port,
            )
            self._ready.set()
            tasks = [
                asyncio.create_task(self.feed.tick_loop()),
                asyncio.create_task(self.order_socket.run()),
                asyncio.create_task(self._match_orders()),
            ]
            await self._stopping.wait()
            for task in tasks:
                task.cancel()
            for session in list(self.feed.sessions):
                await session.ws.close()
            await self.depth.close_all()
            await self.order_socket.close_all()
        self.rest.stop()

    async def _route(self, ws: ServerConnection) -> None:
        """One port, three of DhanHQ's sockets: `/twentydepth` is the depth feed,
        `/orderupdate` the order updates, anything else the market feed."""
        assert ws.request is not None  # handlers run once the handshake is done
        path = ws.request.path.partition("?")[0]
        handlers = {DEPTH_PATH: self.depth.handle, ORDER_UPDATE_PATH: self.order_socket.handle}
        await handlers.get(path, self.feed.handle)(ws)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Order-socket handshakes get HTTP 503 while tests keep that socket down."""
        path = request.path.partition("?")[0]
        if path == ORDER_UPDATE_PATH and self.order_socket.refusing():
            self.order_socket.handshakes_refused += 1
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "order updates down\n")
        return None

    async def _after_tick(self, stepped: dict[InstrumentKey, float]) -> None:
        """After the feed's tick: depth, then the prices of instruments with open orders
        that nobody watches (orders trade on the simulator's prices; these must move)."""
        await self.depth.tick(stepped)
        for key in self.orders.open_keys():
            if key not in stepped:
                stepped[key] = self.prices.step(key)

    async def _match_orders(self) -> None:
        while True:
            await asyncio.sleep(self.config.order_step_seconds)
            self.orders.step()

    def _rest_port(self) -> int:
        """Beside the feed's port by default; any free port when the feed's was."""
        return self.config.port + 1 if self.config.port else 0

    # --- test controls --------------------------------------------------------------

    def _call(self, coro_fn: Callable[[], Coroutine[Any, Any, object]]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro_fn(), self._loop).result(5)

    def drop_connections(self) -> None:
        """Close every feed socket abruptly, as a network failure would."""

        async def drop() -> None:
            for session in list(self.feed.sessions):
                session.ws.transport.abort()

        self._call(drop)

    def disconnect_all(self, reason: int) -> None:
        """Send a disconnect packet with `reason` to every client, then close."""

        async def send() -> None:
            for session in list(self.feed.sessions):
                await self.feed.refuse(session.ws, reason)

        self._call(send)
