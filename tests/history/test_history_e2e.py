"""Live candles end to end on a real stack: Redis, PostgreSQL, a Celery worker running the
feed, two daphne processes, the simulator (feed and history). A closed 1-minute bar is
exact (the simulator's own record of what it streamed) in the API of one web process and
in the `candle_update`s of the other, with a feed reconnect in the middle of that minute;
bars backfilled from the simulator resample to `5m`, `30m` and `1h` anchored at 09:15 IST.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from datetime import date, timedelta

import pytest
import websockets

from dhan.segments import InstrumentKey
from history.timeframes import day_start
from tests.support.fanout import price_simulator
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
RELIANCE = "NSE_EQ:2885"
OPEN = (9 * 60 + 15) * 60  # 09:15 IST after the IST midnight
MINUTE_WAIT_SECONDS = 150


def get(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        return json.loads(answer.read())


def closed(port: int, tf: str = "1m", query: str = "") -> list[dict]:
    return get(port, f"/api/v1/bars?key={RELIANCE}&tf={tf}{query}")["bars"]


@pytest.fixture
def stack(make_stack, redis_url, postgres_server):
    sim = price_simulator()
    url = postgres_server.create_database(f"stack_{uuid.uuid4().hex[:8]}")
    stack = make_stack(
        sim=sim, redis_url=redis_url, rest=True, database_url=url, LTP_BROADCAST_INTERVAL_MS="250"
    )
    stack.prepare()
    stack.worker()
    stack.daphnes(2)
    return stack


async def candle_updates(port: int, stop: asyncio.Event, updates: dict[int, dict]) -> None:
    """One tab on `port` watching RELIANCE's 1m candles: the last bar sent per start."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/dashboard/") as ws:
        subscribe = {"action": "subscribe", "mode": "candles", "tf": "1m", "keys": [RELIANCE]}
        await ws.send(json.dumps(subscribe))
        while not stop.is_set():
            try:
                async with asyncio.timeout(0.2):
                    message = json.loads(await ws.recv())
            except TimeoutError:
                continue
            if message["type"] == "candle_update":
                bar = message["candles"][RELIANCE]
                updates[bar["t"]] = bar


def test_a_closed_minute_is_exact_in_the_api_and_the_updates_through_a_reconnect(stack):
    sim = stack.sim
    api, ws_port = stack.ports
    stack.manage("start_stream", "--type", "swing", "--symbols", "RELIANCE", "--mode", "quote")
    updates: dict[int, dict] = {}
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    watcher = loop.create_task(candle_updates(ws_port, stop, updates))
    try:
        # The first minute is partial (the feed's first packet is the volume's baseline):
        # the one after it is whole, with a reconnect in its middle.
        first = wait_until(lambda: closed(api), timeout=MINUTE_WAIT_SECONDS, what="a minute")
        target = first[-1]["t"] + 60
        while time.time() < target + 25:
            loop.run_until_complete(asyncio.sleep(0.2))
        connections = sim.connections_total
        sim.drop_connections()
        loop.run_until_complete(asyncio.sleep(0.5))
        wait_until(lambda: sim.connections_total > connections, what="the feed reconnected")
        bars = wait_until(
            lambda: [b for b in closed(api) if b["t"] == target],
            timeout=MINUTE_WAIT_SECONDS,
            what="the minute with the reconnect, closed",
        )
        loop.run_until_complete(asyncio.sleep(1))
    finally:
        stop.set()
        loop.run_until_complete(watcher)
        loop.close()
    streamed = {b.start: b for b in sim.streamed_minutes(InstrumentKey.parse(RELIANCE))}
    minute = streamed[target]
    expected = {
        "t": target,
        "o": minute.open,
        "h": minute.high,
        "l": minute.low,
        "c": minute.close,
        "v": minute.volume,
    }
    assert bars == [expected]
    assert updates[target] == expected  # the last update of that minute was the bar


def test_backfilled_minutes_resample_at_0915_ist(stack):
    day = date.today() - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    api = stack.ports[0]
    stack.manage(
        "backfill_history",
        "--keys",
        RELIANCE,
        "--tf",
        "1m",
        "--from",
        day.isoformat(),
        "--to",
        day.isoformat(),
    )
    query = f"&from={day.isoformat()}&to={day.isoformat()}"
    minutes = closed(api, "1m", query)
    open_ = day_start(day) + OPEN

    assert len(minutes) == 375 and minutes[0]["t"] == open_
    for tf, width, count in (("5m", 300, 75), ("30m", 1800, 13), ("1h", 3600, 7)):
        bars = closed(api, tf, query)
        assert [b["t"] for b in bars] == [open_ + width * i for i in range(count)], tf
        assert sum(b["v"] for b in bars) == sum(m["v"] for m in minutes)
        assert bars[-1]["c"] == minutes[-1]["c"] and bars[0]["o"] == minutes[0]["o"]
    hour = closed(api, "1h", query)
    assert hour[-1]["v"] == sum(m["v"] for m in minutes[360:])  # 15:15-15:30
    assert hour[0]["h"] == max(m["h"] for m in minutes[:60])
