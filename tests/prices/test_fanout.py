"""One group member per web process: each window is received once and handed to every
local consumer; a snapshot in flight holds the windows that arrive meanwhile."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from prices.broadcast import GROUP
from prices.consumers import PricesConsumer
from prices.fanout import LocalFanout
from prices.live import LivePrices, LivePricesMiddleware

pytestmark = pytest.mark.django_db(transaction=True)

# Above the broadcaster's own (wall-clock ms) windows, and never reused: a process parses
# each window once, by seq.
_seqs = itertools.count(3_000_000_000_000)


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.REDIS_URL = ""
    settings.DEV_MODE = True


async def connect(app) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(app, "/ws/dashboard/")
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from(timeout=5))["type"] == "status"
    return ws


async def subscribe(ws: WebsocketCommunicator, keys: list[str]) -> None:
    await ws.send_json_to({"action": "subscribe", "keys": keys})
    assert (await ws.receive_json_from())["type"] == "ack"
    assert (await ws.receive_json_from())["type"] == "snapshot"


async def window(prices: dict, *, ts: float = 9e9) -> int:
    seq = next(_seqs)
    await get_channel_layer().group_send(
        GROUP,
        {
            "type": "ltp.window",
            "seq": seq,
            "ts": ts,
            "status": "not_running",
            "prices": json.dumps(prices),
        },
    )
    return seq


async def received_by_fanout(fanout: LocalFanout, count: int) -> None:
    async with asyncio.timeout(5):
        while fanout.messages_received < count:
            await asyncio.sleep(0.01)


async def broadcaster_settled(live) -> None:
    """The process's own broadcaster (started by the first connect) announces the feed
    status in its first window; wait until the fan-out has it, so that the windows a test
    counts are its own."""
    async with asyncio.timeout(5):
        while live.broadcaster.windows_sent < 1:
            await asyncio.sleep(0.01)
    await received_by_fanout(live.fanout, 1)


async def test_the_process_is_one_group_member_and_receives_each_window_once(live, dashboard_app):
    fanout = live.fanout
    layer = get_channel_layer()
    before = set(layer.groups.get(GROUP, {}))
    clients = [await connect(dashboard_app()) for _ in range(5)]
    for i, ws in enumerate(clients):
        await subscribe(ws, ["NSE_EQ:2885", f"NSE_EQ:{100 + i}"])
    members = set(layer.groups[GROUP])
    assert len(members - before) <= 1  # at most the fan-out's, if this loop had none yet
    assert sum(m.startswith("dashboard-fanout.") for m in members) == 1
    await broadcaster_settled(live)
    before = fanout.messages_received
    await window({"NSE_EQ:2885": 1520.0, "NSE_EQ:102": 7.5})
    for i, ws in enumerate(clients):
        update = await ws.receive_json_from()
        expected = {"NSE_EQ:2885": 1520.0} | ({"NSE_EQ:102": 7.5} if i == 2 else {})
        assert update["prices"] == expected
        assert await ws.receive_nothing(timeout=0.05)
    assert fanout.messages_received == before + 1
    for ws in clients:
        await ws.disconnect()
    assert fanout.consumers() == []


class GatedSnapshotConsumer(PricesConsumer):
    """Its snapshot read waits until the test opens the gate."""

    gate: asyncio.Event

    async def read_snapshot(self, keys: list[str]) -> dict[str, float]:
        await self.gate.wait()
        return {"NSE_EQ:2885": 1500.0}


async def test_windows_during_a_snapshot_wait_for_it_and_arrive_merged_after_it(
    live, dashboard_app
):
    fanout = live.fanout
    GatedSnapshotConsumer.gate = asyncio.Event()
    ws = await connect(dashboard_app(GatedSnapshotConsumer))
    await ws.send_json_to({"action": "subscribe", "keys": ["NSE_EQ:2885", "NSE_EQ:1333"]})
    assert (await ws.receive_json_from())["type"] == "ack"
    await broadcaster_settled(live)
    before = fanout.messages_received
    await window({"NSE_EQ:2885": 1501.0, "NSE_EQ:1333": 10.0}, ts=0.0)  # older than it
    await window({"NSE_EQ:2885": 1502.0})
    last = await window({"NSE_EQ:2885": 1503.0, "NSE_EQ:1": 1.0})
    await received_by_fanout(fanout, before + 3)
    assert await ws.receive_nothing(timeout=0.1)
    GatedSnapshotConsumer.gate.set()
    assert await ws.receive_json_from() == {"type": "snapshot", "prices": {"NSE_EQ:2885": 1500.0}}
    update = await ws.receive_json_from()
    assert update["type"] == "screener_ltp_update"
    assert update["seq"] == last
    assert update["prices"] == {"NSE_EQ:2885": 1503.0}  # window 1 was older than the snapshot
    await window({"NSE_EQ:1333": 11.0})  # and afterwards straight through
    assert (await ws.receive_json_from())["prices"] == {"NSE_EQ:1333": 11.0}
    await ws.disconnect()


class BrokenConsumer(PricesConsumer):
    async def ltp_window(self, event: dict) -> None:
        raise RuntimeError("boom")


async def test_a_failing_client_is_logged_and_the_others_still_get_the_window(
    caplog, dashboard_app
):
    broken = await connect(dashboard_app(BrokenConsumer))
    good = await connect(dashboard_app())
    await subscribe(good, ["NSE_EQ:2885"])
    with caplog.at_level(logging.ERROR, logger="prices.fanout"):
        await window({"NSE_EQ:2885": 1520.0})
        assert (await good.receive_json_from())["prices"] == {"NSE_EQ:2885": 1520.0}
    assert "dashboard consumer failed on a ltp.window message" in caplog.text
    await window({"NSE_EQ:2885": 1521.0})
    assert (await good.receive_json_from())["prices"] == {"NSE_EQ:2885": 1521.0}
    for ws in (broken, good):
        await ws.disconnect()


async def test_other_group_messages_reach_each_consumer_handler(dashboard_app):
    received: list[dict] = []

    class Listening(PricesConsumer):
        async def market_note(self, event: dict) -> None:
            received.append(event)

    clients = [await connect(dashboard_app(Listening)) for _ in range(3)]
    await get_channel_layer().group_send(GROUP, {"type": "market.note", "text": "halt"})
    async with asyncio.timeout(5):
        while len(received) < 3:
            await asyncio.sleep(0.01)
    assert received == [{"type": "market.note", "text": "halt"}] * 3
    for ws in clients:
        await ws.disconnect()


async def test_a_process_that_cannot_join_the_group_fails_the_connect_instead_of_hanging():
    class LayerDown(LocalFanout):
        async def _run(self, joined: asyncio.Event) -> None:
            raise OSError("channel layer unreachable")

    class Client:
        pass

    down = LayerDown()
    with pytest.raises(OSError, match="unreachable"):
        await asyncio.wait_for(down.join(Client()), 5)
    assert down.consumers() == []


async def test_a_window_during_the_connects_status_read_sends_the_status_once():
    asked, answer = threading.Event(), threading.Event()

    def status() -> str:  # the feed status read, held until the window has come
        asked.set()
        answer.wait(5)
        return "not_running"

    live = LivePrices(status=status)
    ws = WebsocketCommunicator(LivePricesMiddleware(PricesConsumer.as_asgi(), live), "/ws/")
    try:
        connecting = asyncio.ensure_future(ws.connect())
        async with asyncio.timeout(5):
            while not asked.is_set():
                await asyncio.sleep(0.01)
        window = {"type": "ltp.window", "seq": next(_seqs), "ts": 9e9, "prices": "{}"}
        await live.fanout.deliver({**window, "status": "not_running"})
        answer.set()
        assert (await connecting)[0]
        assert await ws.receive_json_from(5) == {"type": "status", "feed": "not_running"}
        assert await ws.receive_nothing(0.2)  # not a second time
        await ws.disconnect()
    finally:
        answer.set()
        await live.stop()
