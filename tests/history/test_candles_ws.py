"""Live candles in one process (the embedded mode): a quote-mode stream's packets build
1-minute bars in the feed thread; `/ws/dashboard/` serves `subscribe` mode `candles`
(ack with the timeframe, a snapshot, then `candle_update` per window) and the bars API
answers the forming bar."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from dhan.simulator import DhanSimulator, SimulatorConfig
from history.timeframes import bucket_start
from prices.instruments import SAMPLE_SCRIP_MASTER
from prices.models import Instrument
from streams.control import request_start
from streams.keys import StreamSpec

pytestmark = pytest.mark.django_db(transaction=True)
RELIANCE = "NSE_EQ:2885"


@pytest.fixture
def sim(settings):
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER))
    ticks = {i.instrument_key: float(i.tick_size) for i in Instrument.objects.all()}
    sim = DhanSimulator(
        SimulatorConfig(port=0, rest_port=0, ticks_per_second=10, seed=5),
        tick_size=ticks.__getitem__,
    ).start()
    settings.REDIS_URL = ""
    settings.DEV_MODE = True
    settings.LTP_BROADCAST_INTERVAL_MS = 200
    settings.DHANHQ_FEED_URL = f"ws://127.0.0.1:{sim.port}"
    settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN = "1000000001", "demo-token"
    yield sim
    sim.stop()


async def test_a_candle_subscription_gets_its_timeframe_snapshot_and_forming_bars(sim, client):
    from channels.testing import WebsocketCommunicator

    from marketstream.asgi import build_application
    from marketstream.runtime import WebRuntime

    runtime = WebRuntime(hosts_connections=True)
    spec = StreamSpec("swing", keys=(RELIANCE,))
    row = await sync_to_async(request_start)(spec=spec, mode="quote", enqueue=False)
    await sync_to_async(runtime.registry.start)(row[0].key)
    ws = WebsocketCommunicator(build_application(runtime), "/ws/dashboard/")
    try:
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=5))["type"] == "status"
        await ws.send_json_to(
            {"action": "subscribe", "mode": "candles", "tf": "5m", "keys": [RELIANCE]}
        )
        ack = await ws.receive_json_from(timeout=5)
        assert ack == {
            "type": "ack",
            "action": "subscribe",
            "mode": "candles",
            "tf": "5m",
            "count": 1,
        }
        snapshot = await ws.receive_json_from(timeout=5)
        assert snapshot["type"] == "candle_snapshot" and snapshot["tf"] == "5m"
        assert set(snapshot["candles"][RELIANCE]) == {"bars", "forming"}
        while (update := await ws.receive_json_from(timeout=5))["type"] != "candle_update":
            pass
        bar = update["candles"][RELIANCE]
        assert update["tf"] == "5m" and bar["t"] == bucket_start(bar["t"], "5m")
        assert bar["l"] <= min(bar["o"], bar["c"]) <= max(bar["o"], bar["c"]) <= bar["h"]
        answer = await sync_to_async(client.get)(f"/api/v1/bars?key={RELIANCE}&tf=1m")
        forming = answer.json()["forming"]
        assert forming is not None and forming["t"] % 60 == 0 and forming["v"] >= 0
        await ws.send_json_to(
            {"action": "subscribe", "mode": "candles", "tf": "2m", "keys": [RELIANCE]}
        )
        while (message := await ws.receive_json_from(timeout=5))["type"] != "error":
            pass
        assert "unknown tf '2m'" in message["error"]
    finally:
        await ws.disconnect()
        await sync_to_async(runtime.stop)()
        await runtime.live.stop()
