"""The `/ws/dashboard/` protocol, message by message, in one process (in-memory layer)."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from marketstream.asgi import build_application
from marketstream.runtime import WebRuntime
from prices.broadcast import GROUP
from prices.sink import PriceSink

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.REDIS_URL = ""
    settings.DEV_MODE = True
    settings.LTP_BROADCAST_INTERVAL_MS = 100


@pytest.fixture
async def runtime():
    """An embedded web process's runtime: its feeds would write to `local_store`."""
    web = WebRuntime(hosts_connections=True)
    yield web
    await web.live.stop()


@pytest.fixture
def application(runtime):
    return build_application(runtime)


async def connect(application) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(application, "/ws/dashboard/")
    connected, _ = await ws.connect()
    assert connected
    assert await ws.receive_json_from(timeout=5) == {"type": "status", "feed": "not_running"}
    return ws


SEQ_BASE = 2_000_000_000_000  # above the broadcaster's own (wall-clock ms) windows


async def window(seq: int, prices: dict, *, status: str = "not_running", ts: float = 9e9):
    await get_channel_layer().group_send(
        GROUP,
        {
            "type": "ltp.window",
            "seq": SEQ_BASE + seq,
            "ts": ts,
            "status": status,
            "prices": json.dumps(prices),
        },
    )


async def test_subscribe_acks_then_snapshots_from_the_cache(application):
    sink = PriceSink()
    sink.put_many([("NSE_EQ:2885", 1519.9), ("IDX_I:13", 26150.05)])
    await sync_to_async(sink.flush)()
    ws = await connect(application)
    await ws.send_json_to({"action": "subscribe", "keys": ["NSE_EQ:2885", "NSE_EQ:1333"]})
    assert await ws.receive_json_from() == {"type": "ack", "action": "subscribe", "count": 2}
    assert await ws.receive_json_from() == {"type": "snapshot", "prices": {"NSE_EQ:2885": 1519.9}}
    await ws.send_json_to({"action": "subscribe", "keys": ["IDX_I:13", "NSE_EQ:2885"]})
    assert (await ws.receive_json_from())["count"] == 3
    assert (await ws.receive_json_from())["prices"] == {"IDX_I:13": 26150.05, "NSE_EQ:2885": 1519.9}
    await ws.send_json_to({"action": "unsubscribe", "keys": ["NSE_EQ:2885"]})
    assert await ws.receive_json_from() == {"type": "ack", "action": "unsubscribe", "count": 2}
    await ws.disconnect()


async def test_updates_carry_only_subscribed_changed_keys_once_per_window(application):
    a, b = await connect(application), await connect(application)
    await a.send_json_to({"action": "subscribe", "keys": ["NSE_EQ:2885"]})
    await b.send_json_to({"action": "subscribe", "keys": ["NSE_EQ:11536", "IDX_I:13"]})
    for ws in (a, b):
        await ws.receive_json_from()
        await ws.receive_json_from()
    await window(10, {"NSE_EQ:2885": 1520.0, "NSE_EQ:11536": 3150.5, "NSE_EQ:1": 5.0})
    assert await a.receive_json_from() == {
        "type": "screener_ltp_update",
        "seq": SEQ_BASE + 10,
        "ts": 9e9,
        "prices": {"NSE_EQ:2885": 1520.0},
    }
    assert (await b.receive_json_from())["prices"] == {"NSE_EQ:11536": 3150.5}
    await window(10, {"NSE_EQ:2885": 1400.0})  # the same window again: dropped
    await window(9, {"NSE_EQ:2885": 1400.0})  # an older one: dropped
    await window(11, {"IDX_I:13": 26100.0})  # nothing for a
    assert (await b.receive_json_from())["prices"] == {"IDX_I:13": 26100.0}
    assert await a.receive_nothing(timeout=0.3)
    await window(12, {}, status="stale")
    assert await a.receive_json_from() == {"type": "status", "feed": "stale"}
    assert await b.receive_json_from() == {"type": "status", "feed": "stale"}
    await a.disconnect()
    await b.disconnect()


async def test_a_window_older_than_the_snapshot_does_not_overwrite_it(application):
    ws = await connect(application)
    await ws.send_json_to({"action": "subscribe", "keys": ["NSE_EQ:2885", "NSE_EQ:1333"]})
    await ws.receive_json_from()
    await ws.receive_json_from()
    await window(20, {"NSE_EQ:2885": 1.0, "NSE_EQ:1333": 2.0}, ts=0.0)  # cut before it
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_ping_in_both_forms(application):
    ws = await connect(application)
    await ws.send_to(text_data="ping")
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.send_json_to({"action": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()


BAD_INPUT = [
    ("{not json", "not JSON"),
    (json.dumps([1, 2]), "unknown action None"),
    (json.dumps({"action": "dance"}), "unknown action 'dance'"),
    (json.dumps({"action": "subscribe", "keys": "NSE_EQ:2885"}), "'keys' must be a list"),
    (json.dumps({"action": "subscribe"}), "'keys' must be a list"),
    (json.dumps({"action": "subscribe", "keys": ["NSE_EQ"]}), "malformed instrument key"),
    (json.dumps({"action": "subscribe", "keys": ["XYZ:1"]}), "unknown segment 'XYZ'"),
    (json.dumps({"action": "subscribe", "keys": ["NSE_EQ:12a"]}), "malformed security id"),
    (json.dumps({"action": "subscribe", "keys": [5]}), "empty instrument key"),
    (
        json.dumps({"action": "subscribe", "keys": [f"NSE_EQ:{i}" for i in range(1, 1002)]}),
        "too many keys: 1001 > 1000",
    ),
    (
        json.dumps({"action": "subscribe", "keys": ["NSE_EQ:1"], "pad": "x" * 70_000}),
        "frame over 64 KiB",
    ),
    ("[" * 1000 + "]" * 1000, "nested deeper than 32 levels"),  # 2 KB; once a 1011 close
    ('{"action": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeper than 32 levels"),
    ("null", "unknown action None"),
    ('"subscribe"', "unknown action None"),
    (json.dumps({"action": ["subscribe"]}), "unknown action ['subscribe']"),
    (json.dumps({"action": "subscribe", "keys": ["NSE_EQ:1"], "mode": {"a": 1}}), "unknown mode"),
]


@pytest.mark.parametrize(("frame", "error"), BAD_INPUT)
async def test_bad_input_gets_an_error_and_the_socket_keeps_working(application, frame, error):
    ws = await connect(application)
    await ws.send_to(text_data=frame)
    reply = await ws.receive_json_from()
    assert reply["type"] == "error" and error in reply["error"], reply
    await ws.send_json_to({"action": "subscribe", "keys": ["NSE_EQ:2885"]})
    assert await ws.receive_json_from() == {"type": "ack", "action": "subscribe", "count": 1}
    await ws.disconnect()


async def test_binary_frames_and_more_than_1000_keys_in_total_are_refused(application):
    ws = await connect(application)
    await ws.send_to(bytes_data=b"\x00\x01")
    assert "binary frames" in (await ws.receive_json_from())["error"]
    await ws.send_json_to({"action": "subscribe", "keys": [f"NSE_EQ:{i}" for i in range(1, 1001)]})
    assert (await ws.receive_json_from())["count"] == 1000
    await ws.receive_json_from()
    await ws.send_json_to({"action": "subscribe", "keys": ["NSE_EQ:5000"]})
    assert "at most 1000 keys" in (await ws.receive_json_from())["error"]
    await ws.disconnect()


async def test_the_broadcaster_sends_changed_prices_from_the_sink_to_subscribers(
    application, runtime
):
    ws = await connect(application)
    await ws.send_json_to({"action": "subscribe", "keys": ["NSE_EQ:2885"]})
    await ws.receive_json_from()
    await ws.receive_json_from()
    sink = PriceSink(store=runtime.local_store)  # where this process's feeds write
    for price in (1519.0, 1519.1, 1519.2):  # a burst inside one window: the last one wins
        sink.put("NSE_EQ:2885", price)
    await sync_to_async(sink.flush)()
    update = await ws.receive_json_from(timeout=5)
    while update["type"] == "status":
        update = await ws.receive_json_from(timeout=5)
    assert update["type"] == "screener_ltp_update"
    assert update["prices"] == {"NSE_EQ:2885": 1519.2}
    sink.put("NSE_EQ:2885", 1519.2)  # unchanged: nothing is sent
    await sync_to_async(sink.flush)()
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


async def test_a_flood_gets_errors_then_a_close_with_4429(application, settings):
    settings.WS_MESSAGES_PER_SECOND, settings.WS_MESSAGE_BURST = 1, 5
    settings.WS_FLOOD_REFUSALS_BEFORE_CLOSE = 3
    ws = await connect(application)
    for _ in range(5):  # the burst: answered
        await ws.send_to(text_data="ping")
        assert await ws.receive_json_from() == {"type": "pong"}
    for _ in range(2):  # over it: refused, still open
        await ws.send_to(text_data="ping")
        reply = await ws.receive_json_from()
        assert reply["type"] == "error" and "too many messages" in reply["error"]
    await ws.send_to(text_data="ping")  # the third refusal closes
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4429}
