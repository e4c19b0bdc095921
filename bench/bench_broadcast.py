"""Broadcast to 1,000 WebSocket clients on one daphne process (full stack: redis-server,
pub/sub channel layer, the Redis-led broadcaster). Prints the delivery delay after each
window (p50, p99), the web process's CPU, and its memory per connection: for the naive
fan-out (every consumer its own group member) and for ours (one member per process)."""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import redis.asyncio as aioredis
import websockets

from bench.bench_distribution import free_port, redis_server
from prices.cache import LIVE_UPDATES_CHANNEL

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 1000
PAGES = 20  # distinct key sets; clients on one page share payloads
KEYS = [f"NSE_EQ:{i}" for i in range(1, 201)]
WINDOWS = 30
CLIENT_PROCESSES = 2
UPDATE_PREFIX = '{"type":"screener_ltp_update"'


def daphne_env(redis_url: str, db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHANHQ_")}
    env.update(
        REDIS_URL=redis_url,
        DATABASE_URL=f"sqlite:///{db}",
        DEV_MODE="true",
        LTP_BROADCAST_INTERVAL_MS="1000",
        DJANGO_SETTINGS_MODULE="marketstream.settings",
        LOG_LEVEL="WARNING",
    )
    return env


async def _client(
    port: int, keys: list[str], delays: list[float], measure, connected: list[int]
) -> None:
    """Records (arrival - window time) per update; as light as a Python client gets, since
    it shares the two cores with the server. Cancelled at the end."""
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ws/dashboard/", open_timeout=30, compression=None
    ) as ws:
        await ws.send(json.dumps({"action": "subscribe", "keys": keys}))
        connected[0] += 1
        async for raw in ws:
            received = time.time()
            if measure.is_set() and raw.startswith(UPDATE_PREFIX):
                ts = raw[raw.index('"ts":') + 5 : raw.index(',"prices"')]
                delays.append(received - float(ts))


async def _client_group_main(port, pages, count, connected_q, measure, stop) -> list[float]:
    delays: list[float] = []
    connected = [0]
    tasks = []
    for i in range(count):
        tasks.append(
            asyncio.create_task(_client(port, pages[i % len(pages)], delays, measure, connected))
        )
        if i % 100 == 99:
            while connected[0] < i + 1:
                await asyncio.sleep(0.05)
    while connected[0] < count:
        await asyncio.sleep(0.05)
    # The clients are the measuring instrument: move their connections out of the
    # collector's reach, or its full passes here (~100 ms) would show up as server delay.
    gc.collect()
    gc.freeze()
    connected_q.put(count)
    while not stop.is_set():
        await asyncio.sleep(0.2)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return delays


def client_group(port, pages, count, connected_q, measure, stop, results) -> None:
    """One process of WebSocket clients (the clients are spread over two processes)."""
    results.put(asyncio.run(_client_group_main(port, pages, count, connected_q, measure, stop)))


async def _publish(url: str, stop: asyncio.Event) -> None:
    """Stands in for the feeds: 10 flushes a second, every key changing."""
    client = aioredis.Redis.from_url(url)
    rng = random.Random(3)
    while not stop.is_set():
        prices = {k: rng.randint(2000, 60000) * 0.05 for k in KEYS}
        await client.publish(
            LIVE_UPDATES_CHANNEL,
            json.dumps({"type": "ltp_batch", "ts": time.time(), "prices": prices}),
        )
        await asyncio.sleep(0.1)
    await client.aclose()


async def _run(port: int, url: str, web: psutil.Process) -> dict[str, float]:
    rng = random.Random(4)
    pages = [rng.sample(KEYS, 25) for _ in range(PAGES)]
    ctx = multiprocessing.get_context("spawn")
    connected_q, results = ctx.Queue(), ctx.Queue()
    measure, stop = ctx.Event(), ctx.Event()
    publish_stop = asyncio.Event()
    rss_before = web.memory_info().rss
    groups = [
        ctx.Process(
            target=client_group,
            args=(port, pages, CLIENTS // CLIENT_PROCESSES, connected_q, measure, stop, results),
        )
        for _ in range(CLIENT_PROCESSES)
    ]
    for group in groups:
        group.start()
    connected = 0
    for _ in groups:
        connected += await asyncio.to_thread(connected_q.get, True, 120)
    publisher = asyncio.create_task(_publish(url, publish_stop))
    await asyncio.sleep(2)
    rss_after = web.memory_info().rss
    cpu_before, started = sum(web.cpu_times()[:2]), time.monotonic()
    measure.set()
    await asyncio.sleep(WINDOWS)
    measure.clear()
    cpu = (sum(web.cpu_times()[:2]) - cpu_before) / (time.monotonic() - started)
    stop.set()
    publish_stop.set()
    await publisher
    delays: list[float] = []
    for _ in groups:
        delays.extend(await asyncio.to_thread(results.get, True, 60))
    delays.sort()
    for group in groups:
        group.join(30)
    return {
        "connected": connected,
        "deliveries": len(delays),
        "p50_ms": statistics.median(delays) * 1000 if delays else float("nan"),
        "p99_ms": delays[int(len(delays) * 0.99)] * 1000 if delays else float("nan"),
        "first_ms": delays[0] * 1000 if delays else float("nan"),
        "max_ms": delays[-1] * 1000 if delays else float("nan"),
        "cpu": cpu,
        "rss_per_connection_kb": (rss_after - rss_before) / CLIENTS / 1024,
    }


APPLICATIONS = (
    ("one group member per consumer (naive)", "bench.naive_asgi:application"),
    ("one group member per process (ours)", "marketstream.asgi:application"),
)


def _measure(application: str, url: str, env: dict[str, str]) -> dict[str, float]:
    """A fresh daphne process serving `application`, measured with 1,000 clients."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), application],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), 0.2):
                    break
            except OSError:
                time.sleep(0.1)
        return asyncio.run(_run(port, url, psutil.Process(proc.pid)))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            print(
                f"  (daphne serving {application} did not stop within 10 s of SIGTERM: killed)",
                file=sys.stderr,
            )
            proc.kill()
            proc.wait(10)


def main() -> None:
    results = []
    with redis_server() as (url, _client_sync), tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite3"
        env = daphne_env(url, db)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        for name, application in APPLICATIONS:
            results.append((name, _measure(application, url, env)))
    print(
        f"broadcast: {CLIENTS} clients on one daphne process, {PAGES} pages of 25 keys, "
        f"1 window/s, {WINDOWS} s; delay = arrival at the client - the window's send time"
    )
    for name, figures in results:
        print(f"  {name}:")
        print(f"    deliveries: {figures['deliveries']:,} (expected about {CLIENTS * WINDOWS:,})")
        print(
            f"    delay: p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms "
            f"(target p99 < 100 ms); fastest {figures['first_ms']:.1f} ms, "
            f"slowest {figures['max_ms']:.1f} ms"
        )
        print(
            f"    web process CPU: {figures['cpu'] * 100:.0f}% of one core; "
            f"memory {figures['rss_per_connection_kb']:.0f} KiB per connection"
        )
    (_, naive), (_, ours) = results
    print(
        f"  ratio (naive / ours): p50 {naive['p50_ms'] / ours['p50_ms']:.1f}x, "
        f"p99 {naive['p99_ms'] / ours['p99_ms']:.1f}x, CPU {naive['cpu'] / ours['cpu']:.1f}x"
    )
