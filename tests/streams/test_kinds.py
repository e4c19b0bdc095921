"""A second, minimal connection kind gets everything the market feed gets (backoff, the
silence watchdog, control, heartbeats and the shared connection budget) with no code of
its own: only where it connects and what a frame means."""

from __future__ import annotations

import asyncio
import threading

import pytest
import websockets
from django.core.management import call_command
from websockets.asyncio.server import serve

from dhan.errors import FeedDisconnectedError
from prices.instruments import SAMPLE_SCRIP_MASTER
from streams.control import request_start, request_stop
from streams.keys import StreamSpec
from streams.kinds import ConnectionKind, KindFactory
from streams.marketfeed import market_feed_factory
from streams.models import Stream
from streams.registry import ConnectionRegistry, StreamStartError
from streams.runner import FeedPolicy
from tests.support.screens import record_runs
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
CLIENT_ID = "1000000001"


class Ticker:
    """A tiny upstream: a text frame every 50 ms to each client; it can fall silent or
    drop everyone."""

    def __init__(self) -> None:
        self.silent = False
        self.connections_total = 0
        self._clients: set = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),))
        self._thread.start()
        self._ready.wait(5)

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._handle, "127.0.0.1", 0) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    async def _handle(self, ws) -> None:
        self.connections_total += 1
        self._clients.add(ws)
        try:
            while True:
                if not self.silent:
                    await ws.send("tick")
                await asyncio.sleep(0.05)
        except websockets.ConnectionClosed:
            pass
        finally:
            self._clients.discard(ws)

    def drop_all(self) -> None:
        def drop() -> None:
            for ws in list(self._clients):
                ws.transport.abort()

        self._loop.call_soon_threadsafe(drop)

    @property
    def connection_count(self) -> int:
        return len(self._clients)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


class TickKind(ConnectionKind):
    """The whole of a connection kind: where it connects, and what a frame means."""

    name = "ticks"

    def __init__(self, *, key: str, port: int) -> None:
        super().__init__(key=key, client_id=CLIENT_ID)
        self.port = port

    async def open(self) -> _Socket:
        try:
            return _Socket(await websockets.connect(f"ws://127.0.0.1:{self.port}"))
        except OSError as exc:
            raise FeedDisconnectedError(f"cannot connect: {exc}") from None

    def take(self, frame: bytes | str) -> None:
        self.items_received += 1


class _Socket:
    def __init__(self, ws) -> None:
        self.ws = ws

    async def frames(self):
        try:
            async for frame in self.ws:
                yield frame
        except websockets.ConnectionClosed as exc:
            raise FeedDisconnectedError(f"closed: {exc}") from None

    async def close(self) -> None:
        await self.ws.close()


@pytest.fixture
def ticker():
    server = Ticker()
    yield server
    server.stop()


@pytest.fixture
def registry(settings, ticker):
    settings.DEV_MODE = True
    settings.REDIS_URL = ""
    settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN = CLIENT_ID, "demo-token"
    factories = [
        KindFactory("ticks", lambda stream: TickKind(key=stream.key, port=ticker.port)),
        market_feed_factory(),
    ]
    policy = FeedPolicy(base_delay_seconds=0.05, max_delay_seconds=0.3, watchdog_silence_seconds=1)
    owner = ConnectionRegistry(factories=factories, policy=policy)
    yield owner
    owner.stop_all_streams(reason="test over")


def tick_stream(n: int = 1) -> str:
    return Stream.objects.create(key=f"ticks:{n}", kind="ticks").key


def row(key: str) -> Stream:
    return Stream.objects.get(key=key)


def test_a_new_kind_gets_heartbeats_backoff_and_the_watchdog_for_free(registry, ticker):
    key = tick_stream()
    assert registry.start(key).started
    wait_until(lambda: row(key).state == "running" and row(key).last_tick_at, what="running")
    assert row(key).last_heartbeat is not None
    ticker.drop_all()  # a network failure: reconnects with backoff
    wait_until(lambda: ticker.connections_total >= 2, what="reconnect after a drop")
    wait_until(lambda: row(key).reconnects >= 1, what="reconnect recorded")
    ticker.silent = True  # connected but silent: the watchdog reconnects
    before = ticker.connections_total
    wait_until(lambda: ticker.connections_total > before, timeout=10, what="watchdog reconnect")
    assert "watchdog" in row(key).last_error or row(key).state == "running"
    ticker.silent = False
    wait_until(lambda: row(key).ticks_received > 0, timeout=10, what="items counted")


def test_a_new_kind_obeys_operators_and_leaves_nothing_behind(registry, ticker):
    key = tick_stream()
    registry.start(key)
    wait_until(lambda: ticker.connection_count == 1, what="connected")
    thread = registry.thread(key)
    request_stop(key)  # an operator, from any process
    thread.join(3)
    assert not thread.is_alive() and registry.active_stream_count() == 0
    assert (row(key).state, row(key).stopped_reason) == ("stopped", "stop requested")
    wait_until(lambda: ticker.connection_count == 0, what="socket closed")


def test_a_new_kind_shares_the_client_ids_connection_budget(registry):
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER))
    record_runs()
    feeds = [
        request_start(spec=StreamSpec("swing", symbols=(s,)), mode="ticker", enqueue=False)[0].key
        for s in ("RELIANCE", "TCS", "HDFCBANK", "INFY")
    ]
    ticks = [tick_stream(1), tick_stream(2)]
    for key in [*feeds, ticks[0]]:
        assert registry.start(key).started, key
    with pytest.raises(StreamStartError, match="allows 5 feed connections per client id"):
        registry.start(ticks[1])
    assert registry.stop(feeds[0], reason="make room")
    assert registry.start(ticks[1]).started
