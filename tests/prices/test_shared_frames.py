"""A window's update framed once per key set under daphne (`gateway.sharedframes.DaphneFrames`)
reaches every client as the same bytes the per-client path (daphne's `websocket.send`)
sends: two real daphne processes on one Redis get the same windows, one sharing frames and
one sending per client, and real WebSocket clients (`websockets`) on both compare."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import redis.asyncio as aioredis
import websockets

from prices.cache import LIVE_UPDATES_CHANNEL
from tests.conftest import ManagedProcess, free_port, manage, manage_env, wait_for_port

PAGE_A = [f"NSE_EQ:{i}" for i in range(1, 11)]
PAGE_B = [f"NSE_EQ:{i}" for i in range(6, 16)]
WINDOWS = 5


def daphne(port: int, app: str, env: dict[str, str], log) -> ManagedProcess:
    args = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
    return ManagedProcess(args, env=env, log=log)


async def listen(port: int, keys: list[str], texts: dict[int, str], stop: asyncio.Event):
    """One client: the raw text of each `screener_ltp_update`, by window."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/dashboard/") as ws:
        await ws.send(json.dumps({"action": "subscribe", "keys": keys}))
        while not stop.is_set():
            try:
                async with asyncio.timeout(0.2):
                    text = await ws.recv()
            except TimeoutError:
                continue
            assert isinstance(text, str)  # a text frame, as the per-client path sends
            message = json.loads(text)
            if message["type"] == "screener_ltp_update":
                texts[message["seq"]] = text


async def publish(url: str, stop: asyncio.Event) -> None:
    """The feeds: every key of both pages changes five times a second."""
    client = aioredis.Redis.from_url(url)
    step = 0
    while not stop.is_set():
        step += 1
        prices = {key: 100 + step + i / 20 for i, key in enumerate(PAGE_A + PAGE_B)}
        batch = {"type": "ltp_batch", "ts": time.time(), "prices": prices}
        await client.publish(LIVE_UPDATES_CHANNEL, json.dumps(batch))
        await asyncio.sleep(0.2)
    await client.aclose()


async def test_shared_frames_are_the_bytes_the_per_client_path_sends(
    tmp_path, processes, redis_url
):
    # One hash seed for both processes: a key set's JSON lists its keys in the same order.
    env = manage_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'frames.sqlite3'}",
        REDIS_URL=redis_url,
        DEV_MODE="true",
        LTP_BROADCAST_INTERVAL_MS="500",
        PYTHONHASHSEED="0",
        LOG_LEVEL="INFO",
    )
    await asyncio.to_thread(manage, "migrate", env=env)
    shared_port, per_client_port = free_port(), free_port()
    processes.append(daphne(shared_port, "marketstream.asgi:application", env, tmp_path / "s.log"))
    per_client_app = "tests.prices.per_client_asgi:application"
    processes.append(daphne(per_client_port, per_client_app, env, tmp_path / "p.log"))
    for port in (shared_port, per_client_port):
        wait_for_port(port)

    clients = [(shared_port, PAGE_A)] * 3 + [(shared_port, PAGE_B)]
    clients += [(per_client_port, PAGE_A), (per_client_port, PAGE_B)]
    texts: list[dict[int, str]] = [{} for _ in clients]
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(listen(port, keys, got, stop))
        for (port, keys), got in zip(clients, texts, strict=True)
    ]
    feeds = asyncio.create_task(publish(redis_url, asyncio.Event()))
    try:
        async with asyncio.timeout(60):
            while min(len(got) for got in texts) < WINDOWS + 2:
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        feeds.cancel()

    *shared_a, shared_b, per_client_a, per_client_b = texts
    # Windows every client saw in full (not its first: one may straddle its subscribe).
    seqs = sorted(set.intersection(*(set(got) for got in texts)))[1:]
    assert len(seqs) >= WINDOWS
    for seq in seqs:
        assert {got[seq] for got in shared_a} == {per_client_a[seq]}  # byte for byte
        assert shared_b[seq] == per_client_b[seq]
        assert set(json.loads(shared_b[seq])["prices"]) == set(PAGE_B)  # its keys only
    assert per_client_a[seqs[0]] != per_client_b[seqs[0]]
    assert "framed once per key set" in (tmp_path / "s.log").read_text()
    assert "framed once per key set" not in (tmp_path / "p.log").read_text()
