"""A window's update framed once per key set under daphne (`gateway.sharedframes.DaphneFrames`)
reaches every client as the same bytes the per-client path (daphne's `websocket.send`)
sends: two real daphne processes on one Redis get the same windows, one sharing frames and
one sending per client, and real WebSocket clients (`websockets`) on both compare."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis.asyncio as aioredis
import websockets

from prices.cache import LIVE_UPDATES_CHANNEL

pytestmark = pytest.mark.e2e
PAGE_A = [f"NSE_EQ:{i}" for i in range(1, 11)]
PAGE_B = [f"NSE_EQ:{i}" for i in range(6, 16)]
WINDOWS = 5


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


async def test_shared_frames_are_the_bytes_the_per_client_path_sends(make_stack, redis_url):
    # One hash seed for both processes: a key set's JSON lists its keys in the same order.
    stack = make_stack(
        redis_url=redis_url,
        DEV_MODE="true",
        LTP_BROADCAST_INTERVAL_MS="500",
        PYTHONHASHSEED="0",
        LOG_LEVEL="INFO",
    )
    await asyncio.to_thread(stack.prepare, "migrate --noinput")
    shared = stack.daphne("s")
    per_client = stack.daphne("p", app="tests.support.per_client_asgi:application")
    shared_port, per_client_port = shared.port, per_client.port

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
    assert "framed once per key set" in shared.output()
    assert "framed once per key set" not in per_client.output()
