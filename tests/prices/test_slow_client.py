"""A client that never reads, for a minute of ticks: the server's memory stays bounded,
the client is dropped when it stops answering pings, and other clients are unaffected."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time

import psutil
import websockets

from tests.conftest import (
    ManagedProcess,
    free_port,
    manage,
    manage_env,
    simulator_args,
    wait_for_port,
)

# What we promise (README "Slow clients"): our code keeps no queue per client, and daphne's
# unsent bytes for a client that stopped reading are bounded by the ping timeout. Measured
# growth of the web process over the minute must stay under this.
RSS_GROWTH_BOUND_BYTES = 30 * 1024 * 1024


async def test_a_client_that_never_reads_costs_bounded_memory(tmp_path, processes):
    sim_port, rest_port, web_port = free_port(), free_port(), free_port()
    env = manage_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'slow.sqlite3'}",
        DHANHQ_API_URL=f"http://127.0.0.1:{rest_port}/v2",
        DEV_MODE="true",
        DHANHQ_FEED_URL=f"ws://127.0.0.1:{sim_port}",
        DHANHQ_CLIENT_ID="1000000001",
        DHANHQ_ACCESS_TOKEN="demo-token",
        LTP_BROADCAST_INTERVAL_MS="100",
    )
    for command in ("migrate", "load_instruments", "load_screeners"):
        await asyncio.to_thread(manage, command, env=env)
    sim = ManagedProcess(
        simulator_args(sim_port, rest_port, rate=20), env=env, log=tmp_path / "sim.log"
    )
    processes.append(sim)
    wait_for_port(sim_port, process=sim)
    web = ManagedProcess(
        [sys.executable, "manage.py", "run_web", "--port", str(web_port), "--demo-streams"],
        env=env,
        log=tmp_path / "web.log",
    )
    processes.append(web)
    wait_for_port(web_port, process=web)
    instruments = _instruments(tmp_path / "slow.sqlite3")
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
        while time.monotonic() - started < 60:
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
