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
UPDATE_TYPES = ('{"type":"screener_ltp_update"', '{"type":"quote_update"', '{"type":"depth_update"')


def daphne_env(redis_url: str, db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHANHQ_")}
    env.update(
        REDIS_URL=redis_url,
        DATABASE_URL=f"sqlite:///{db}",
        DEV_MODE="true",
        LTP_BROADCAST_INTERVAL_MS="1000",
        DJANGO_SETTINGS_MODULE="marketstream.settings",
        LOG_LEVEL="WARNING",
        WS_MAX_CONNECTIONS_PER_IP="10000",  # every client connects from 127.0.0.1
    )
    return env


async def _client(
    port: int, subscribes: list[dict], delays: list[float], measure, connected: list[int]
) -> None:
    """Records (arrival - window time) per update of any mode; as light as a Python client
    gets, since it shares the two cores with the server. Cancelled at the end."""
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ws/dashboard/", open_timeout=30, compression=None
    ) as ws:
        for message in subscribes:
            await ws.send(json.dumps(message))
        connected[0] += 1
        async for raw in ws:
            received = time.time()
            if measure.is_set() and raw.startswith(UPDATE_TYPES):
                start = raw.index('"ts":') + 5
                delays.append(received - float(raw[start : raw.index(",", start)]))


async def _client_group_main(port, plans, connected_q, measure, stop) -> list[float]:
    count = len(plans)
    delays: list[float] = []
    connected = [0]
    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(_client(port, plans[i], delays, measure, connected)))
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


def client_group(port, plans, connected_q, measure, stop, results) -> None:
    """One process of WebSocket clients (the clients are spread over two processes); each
    plan is one client's subscribe messages."""
    results.put(asyncio.run(_client_group_main(port, plans, connected_q, measure, stop)))


def _book(rng: random.Random, price: float, levels: int) -> dict:
    def side(sign: int) -> list[dict]:
        return [
            {
                "price": round(price + sign * 0.05 * (i + 1), 2),
                "quantity": rng.randint(1, 2500),
                "orders": rng.randint(1, 40),
            }
            for i in range(levels)
        ]

    source = "depth20" if levels == 20 else "full"
    return {
        "levels": levels,
        "source": source,
        "ts": time.time(),
        "bids": side(-1),
        "asks": side(1),
    }


def _quote(price: float) -> dict:
    return {
        "ltp": price,
        "ltq": 25,
        "ltt": "2026-11-24T10:00:00+05:30",
        "atp": price,
        "volume": 123456,
        "open": price,
        "high": price + 5,
        "low": price - 5,
        "prev_close": price - 1,
        "change": 1.0,
        "change_pct": 0.1,
        "total_buy_qty": 5000,
        "total_sell_qty": 6000,
        "oi": None,
    }


async def _publish(url: str, stop: asyncio.Event, *, records: bool) -> None:
    """Stands in for the feeds: 10 flushes a second, every key changing; with `records`,
    as full mode and the depth socket would: every key's QUOTE and 5-level book, and
    20-level books of the depth-watched keys."""
    client = aioredis.Redis.from_url(url)
    rng = random.Random(3)
    while not stop.is_set():
        prices = {k: rng.randint(2000, 60000) * 0.05 for k in KEYS}
        batch: dict = {"type": "ltp_batch", "ts": time.time(), "prices": prices}
        if records:
            batch["quotes"] = {k: _quote(p) for k, p in prices.items()}
            batch["depth"] = {
                k: _book(rng, p, 20 if k in DEPTH_KEYS else 5) for k, p in prices.items()
            }
        await client.publish(LIVE_UPDATES_CHANNEL, json.dumps(batch))
        await asyncio.sleep(0.1)
    await client.aclose()


def client_plans(*, mixed: bool) -> list[list[dict]]:
    """Each client's subscribe messages: its page's keys in ltp mode; with `mixed`, 300 of
    them in quote mode too and 100 watching one instrument's depth (as the panel does)."""
    rng = random.Random(4)
    pages = [rng.sample(KEYS, 25) for _ in range(PAGES)]
    plans = []
    for i in range(CLIENTS):
        page = pages[i % PAGES]
        plan = [{"action": "subscribe", "keys": page}]
        if mixed and i % 10 < 3:
            plan.append({"action": "subscribe", "mode": "quote", "keys": page})
        if mixed and i % 10 == 3:
            plan.append({"action": "subscribe", "mode": "depth", "keys": [DEPTH_KEYS[i % 20]]})
        plans.append(plan)
    return plans


DEPTH_KEYS = KEYS[:20]


async def _run(port: int, url: str, web: psutil.Process, *, mixed: bool = False) -> dict:
    plans = client_plans(mixed=mixed)
    ctx = multiprocessing.get_context("spawn")
    connected_q, results = ctx.Queue(), ctx.Queue()
    measure, stop = ctx.Event(), ctx.Event()
    publish_stop = asyncio.Event()
    rss_before = web.memory_info().rss
    groups = [
        ctx.Process(
            target=client_group,
            args=(port, plans[n::CLIENT_PROCESSES], connected_q, measure, stop, results),
        )
        for n in range(CLIENT_PROCESSES)
    ]
    for group in groups:
        group.start()
    connected = 0
    for _ in groups:
        connected += await asyncio.to_thread(connected_q.get, True, 120)
    publisher = asyncio.create_task(_publish(url, publish_stop, records=mixed))
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


RUNS = (  # (name, application, mixed)
    ("one group member per consumer (naive), LTP only", "bench.naive_asgi:application", False),
    ("one group member per process (ours), LTP only", "marketstream.asgi:application", False),
    (
        "ours, mixed: 300 clients also in quote mode, 100 watching depth",
        "marketstream.asgi:application",
        True,
    ),
)


def _measure(
    application: str, url: str, env: dict[str, str], *, mixed: bool = False
) -> dict[str, float]:
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
        return asyncio.run(_run(port, url, psutil.Process(proc.pid), mixed=mixed))
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
        for name, application, mixed in RUNS:
            results.append((name, _measure(application, url, env, mixed=mixed)))
    print(
        f"broadcast: {CLIENTS} clients on one daphne process, {PAGES} pages of 25 keys, "
        f"1 window/s, {WINDOWS} s; delay = arrival at the client - the window's send time "
        "(every update: prices, quotes, depth)"
    )
    for name, figures in results:
        print(f"  {name}:")
        print(f"    updates delivered: {figures['deliveries']:,}")
        print(
            f"    delay: p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms "
            f"(target p99 < 100 ms); fastest {figures['first_ms']:.1f} ms, "
            f"slowest {figures['max_ms']:.1f} ms"
        )
        print(
            f"    web process CPU: {figures['cpu'] * 100:.0f}% of one core; "
            f"memory {figures['rss_per_connection_kb']:.0f} KiB per connection"
        )
    (_, naive), (_, ours), (_, mixed) = results
    print(
        f"  ratio (naive / ours): p50 {naive['p50_ms'] / ours['p50_ms']:.1f}x, "
        f"p99 {naive['p99_ms'] / ours['p99_ms']:.1f}x, CPU {naive['cpu'] / ours['cpu']:.1f}x"
    )
    print(
        f"  mixed against LTP only (ours): p50 {mixed['p50_ms'] / ours['p50_ms']:.2f}x, "
        f"p99 {mixed['p99_ms'] / ours['p99_ms']:.2f}x, CPU {mixed['cpu'] / ours['cpu']:.2f}x"
    )
