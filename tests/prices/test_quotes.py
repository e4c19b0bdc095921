"""The whole quote: in quote and full mode a stream caches a QUOTE per instrument (and in
full mode its 5-level BOOK) next to the price, with the previous close and change right
although DhanHQ sends no previous-close packet for equities; `/api/v1/quotes` and
`/api/v1/depth` serve them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command

from dhan.packets import DepthLevel, Full, Quote
from dhan.segments import InstrumentKey
from dhan.simulator import DhanSimulator, SimulatorConfig
from marketstream.runtime import connection_registry
from prices.cache import QUOTE_KEY_PREFIX, price_store
from prices.instruments import SAMPLE_SCRIP_MASTER
from prices.models import Instrument
from prices.quotes import book_from_full, previous_close, quote_record
from streams.control import request_start
from streams.keys import StreamSpec
from tests.support.screens import record_runs
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
RELIANCE, NIFTY = "NSE_EQ:2885", "IDX_I:13"


def test_a_quote_record_carries_the_change_from_the_previous_close():
    quote = Quote(
        1, 2885, 1612.35, 10, 1_763_900_000, 1610.5, 5000, 100, 200, 1600.0, 1600.1, 1615.0, 1598.0
    )
    assert previous_close(quote) == 1600.1
    record = quote_record(quote, prev_close=1600.1, oi=None)
    assert record["change"] == 12.25 and record["change_pct"] == 0.77
    assert record["ltt"] == "2025-11-23T12:13:20+05:30"  # the LTT is IST wall-clock time
    assert (record["total_buy_qty"], record["total_sell_qty"], record["oi"]) == (200, 100, None)
    index = Quote(0, 13, 26150.05, 0, 0, 0.0, 0, 0, 0, 26100.0, 26000.0, 26200.0, 26050.0)
    assert previous_close(index) is None  # indices' comes in a packet of its own


def test_a_full_packets_book_is_best_first_and_drops_empty_levels():
    depth = tuple(DepthLevel(10 * i, 20 * i, i, i, 100 - i, 100 + i) for i in range(1, 5)) + (
        DepthLevel(0, 0, 0, 0, 0.0, 0.0),
    )
    full = Full(1, 1, 100.0, 1, 0, 100.0, 1, 1, 1, 0, 0, 0, 99.0, 98.0, 101.0, 97.0, depth)
    book = book_from_full(full, ts=1.5)
    assert (book["levels"], book["source"], book["ts"]) == (5, "full", 1.5)
    assert [b["price"] for b in book["bids"]] == [99, 98, 97, 96]
    assert book["asks"][0] == {"price": 101, "quantity": 20, "orders": 1}


@pytest.fixture
def stream(settings):
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER))
    record_runs()
    ticks = {i.instrument_key: float(i.tick_size) for i in Instrument.objects.all()}
    sim = DhanSimulator(
        SimulatorConfig(port=0, rest_port=0, ticks_per_second=10, seed=5),
        tick_size=ticks.__getitem__,
    ).start()
    settings.REDIS_URL = ""
    settings.DEV_MODE = True
    settings.DHANHQ_FEED_URL = f"ws://127.0.0.1:{sim.port}"
    settings.DHANHQ_API_URL = f"http://127.0.0.1:{sim.rest_port}/v2"
    settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN = "1000000001", "demo-token"
    registry = connection_registry()

    def start(mode: str) -> None:
        spec = StreamSpec("swing", keys=(RELIANCE, NIFTY))
        registry.start(request_start(spec=spec, mode=mode, enqueue=False)[0].key)

    yield sim, start
    registry.stop_all_streams(reason="test over")
    sim.stop()


def cached_quote(key: str) -> dict | None:
    return price_store().read_records(QUOTE_KEY_PREFIX, [key]).get(key)


def test_quote_mode_caches_whole_quotes_with_the_previous_close_from_the_packet(stream, client):
    sim, start = stream
    start("quote")
    wait_until(lambda: cached_quote(RELIANCE), what="a quote in the cache")
    expected = Decimal(repr(sim.prices.snapshot(InstrumentKey.parse(RELIANCE))["prev_close"]))
    quote = cached_quote(RELIANCE)
    assert Decimal(repr(quote["prev_close"])) == expected  # no code-6 packet for equities
    assert Decimal(repr(quote["change"])) == Decimal(repr(quote["ltp"])) - expected
    assert quote["volume"] > 0 and quote["high"] >= quote["ltp"] >= quote["low"]
    body = client.get(f"/api/v1/quotes?keys={RELIANCE},NSE_EQ:1").json()
    assert set(body["quotes"]) == {RELIANCE} and body["missing"] == ["NSE_EQ:1"]
    assert client.get("/api/v1/quotes?keys=NSE_XX:1").status_code == 400
    pages = client.get("/api/v1/current_prices?keys=" + RELIANCE).json()
    assert pages["prices"][RELIANCE] > 0


def test_full_mode_caches_the_5_level_book_around_the_price(stream, client):
    _sim, start = stream
    start("full")
    wait_until(
        lambda: client.get(f"/api/v1/depth?key={RELIANCE}").status_code == 200,
        what="a book in the cache",
    )
    book = client.get(f"/api/v1/depth?key={RELIANCE}").json()
    ltp = cached_quote(RELIANCE)["ltp"]
    assert (book["key"], book["levels"], book["source"]) == (RELIANCE, 5, "full")
    assert book["bids"][0]["price"] < ltp <= book["asks"][0]["price"]
    assert client.get("/api/v1/depth?key=NSE_EQ:1").status_code == 404
    assert client.get("/api/v1/depth").status_code == 400


def test_ticker_mode_takes_an_equitys_previous_close_from_rest_ohlc(stream):
    sim, start = stream
    start("ticker")  # DhanHQ sends no previous close for equities in ticker mode

    def closes() -> dict[str, float]:
        return price_store().read_quotes([RELIANCE, NIFTY]).prev_close

    wait_until(lambda: len(closes()) == 2, timeout=10, what="both previous closes")
    for key in (RELIANCE, NIFTY):  # RELIANCE from REST OHLC, NIFTY from its code-6 packet
        expected = sim.prices.snapshot(InstrumentKey.parse(key))["prev_close"]
        assert Decimal(repr(closes()[key])) == Decimal(repr(expected))
    assert sim.rest_calls == 1  # once, not at every heartbeat


async def test_quote_and_depth_watchers_get_a_snapshot_then_updates_per_window(stream, settings):
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from marketstream.asgi import build_application
    from marketstream.runtime import WebRuntime

    settings.LTP_BROADCAST_INTERVAL_MS = 200
    runtime = WebRuntime(hosts_connections=True)  # its feeds write where it broadcasts from
    spec = StreamSpec("swing", keys=(RELIANCE, NIFTY))
    stream_row = await sync_to_async(request_start)(spec=spec, mode="full", enqueue=False)
    await sync_to_async(runtime.registry.start)(stream_row[0].key)
    ws = WebsocketCommunicator(build_application(runtime), "/ws/dashboard/")
    try:
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=5))["type"] == "status"
        await ws.send_json_to({"action": "subscribe", "mode": "quote", "keys": [RELIANCE]})
        ack = await ws.receive_json_from(timeout=5)
        assert ack == {"type": "ack", "action": "subscribe", "mode": "quote", "count": 1}
        assert (await ws.receive_json_from(timeout=5))["type"] == "quote_snapshot"
        await ws.send_json_to({"action": "subscribe", "mode": "depth", "keys": [RELIANCE]})
        seen: dict[str, dict] = {}
        while not {"quote_update", "depth_update"} <= set(seen):
            message = await ws.receive_json_from(timeout=5)
            seen.setdefault(message["type"], message)
        assert set(seen["quote_update"]["quotes"]) == {RELIANCE}  # only its own keys
        book = seen["depth_update"]["depth"][RELIANCE]
        assert (book["levels"], book["source"], len(book["bids"])) == (5, "full", 5)
        assert seen["depth_snapshot"]["type"] == "depth_snapshot"
        too_many = [f"NSE_EQ:{i}" for i in range(1, 52)]
        await ws.send_json_to({"action": "subscribe", "mode": "depth", "keys": too_many})
        while (message := await ws.receive_json_from(timeout=5))["type"] != "error":
            pass
        assert "at most 50 keys" in message["error"]
        await ws.send_json_to({"action": "subscribe", "mode": "bars", "keys": [RELIANCE]})
        while (message := await ws.receive_json_from(timeout=5))["type"] != "error":
            pass
        assert "unknown mode 'bars'" in message["error"]
        await ws.send_json_to({"action": "subscribe", "mode": "candles", "keys": [RELIANCE]})
        while (message := await ws.receive_json_from(timeout=5))["type"] != "error":
            pass
        assert "unknown tf None" in message["error"]
    finally:
        await ws.disconnect()
        await sync_to_async(runtime.stop)()
        await runtime.live.stop()
