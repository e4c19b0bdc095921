"""A client that never reads, under ten windows a second: the server's memory stays
bounded, the client is dropped when it stops answering pings, and other clients are
unaffected all along (watched until 10 s after the drop, a minute at most)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import psutil
import pytest
import websockets

from tests.support.stack import SimulatorAddress

pytestmark = pytest.mark.e2e

# What we promise (README "Slow clients"): our code keeps no queue per client, and daphne's
# unsent bytes for a client that stopped reading are bounded by the ping timeout. Measured
# growth of the web process while it is watched must stay under this.
RSS_GROWTH_BOUND_BYTES = 30 * 1024 * 1024
WATCH_SECONDS = 60


async def test_a_client_that_never_reads_costs_bounded_memory(make_stack):
    stack = make_stack(
        sim=SimulatorAddress.free(),
        rest=True,
        database="slow.sqlite3",
        LTP_BROADCAST_INTERVAL_MS="100",
    )
    await asyncio.to_thread(stack.prepare)
    stack.simulator_process(rate=20)
    web = stack.run_web(demo_streams=True)
    web_port = web.port
    instruments = _instruments(stack.db)
    assert len(instruments) >= 30
    url = f"ws://127.0.0.1:{web_port}/ws/dashboard/"
    subscribe = json.dumps({"action": "subscribe", "keys": instruments})

    slow = await websockets.connect(url, max_queue=1, ping_interval=None)
    await slow.send(subscribe)  # ... and never read again
    slow_port = slow.transport.get_extra_info("sockname")[1]
    server = psutil.Process(web.proc.pid)
    await asyncio.sleep(5)
    baseline = server.memory_info().rss
    peak, received, dropped_after = baseline, 0, None
    started = time.monotonic()
    async with websockets.connect(url) as reader:
        await reader.send(subscribe)
        while time.monotonic() - started < WATCH_SECONDS:
            if dropped_after is not None and time.monotonic() - started > dropped_after + 10:
                break  # dropped, and the reading client went on getting its windows
            try:
                async with asyncio.timeout(1):
                    message = json.loads(await reader.recv())
                received += message["type"] == "screener_ltp_update"
            except TimeoutError:
                pass
            peak = max(peak, server.memory_info().rss)
            alive = any(c.raddr and c.raddr.port == slow_port for c in server.net_connections())
            if not alive and dropped_after is None:
                dropped_after = time.monotonic() - started
    assert peak - baseline < RSS_GROWTH_BOUND_BYTES, (peak - baseline) / 1e6
    assert received >= 300  # ten windows a second for the reading client, all along
    assert dropped_after is not None and dropped_after < 45  # ping 10 s + timeout 20 s
    slow.transport.abort()


def _instruments(db_path) -> list[str]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT instruments FROM marketstream_stream").fetchall()
    return sorted({key for (value,) in rows for key in json.loads(value)})
