"""The fault battery's hung Redis (`make chaos`): the deployment of tests/chaos/test_faults.py
(Redis, a Celery worker, a daphne process, the simulator, a WebSocket client) with
redis-server stopped (SIGSTOP) for 15 s. Meanwhile health answers `error` with a reason
within 2 s and the screener page renders within 3 s, each time it is asked (the issue's
bounds; a load balancer's probe must read `error`, not time out); after SIGCONT the client
gets fresh prices again. Prints `CHAOS redis hung: health X.X s, page Y.Y s, prices again
after Z.Z s`."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request

import pytest

from tests.support.battery import Battery
from tests.support.fanout import (
    SWING,
    assert_only_its_keys_once_per_window,
    stop_streams_and_clients,
    subscribed_keys,
)
from tests.support.processes import manage
from tests.support.redis import RedisServer

pytestmark = pytest.mark.e2e

HANG_SECONDS = 15.0
HEALTH_BOUND_SECONDS = 2.0  # the bounds
PAGE_BOUND_SECONDS = 3.0
ROUND_EVERY_SECONDS = 3.0  # health and the page, asked again through the hang
HEALTH, PAGE = "/api/v1/health/market_stream", "/screeners/swing"
PATHS = (HEALTH, PAGE)


def get(port: int, path: str) -> tuple[int, bytes, float]:
    """(status, body, seconds) of one GET; the client's own timeout is far past the bounds."""
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return response.status, response.read(), time.monotonic() - started


async def ask_through_the_hang(port: int, until: float) -> tuple[list[dict], list[float]]:
    """Health's answers (with their times) and the page's times, a round every few seconds
    until `until` (Unix time)."""
    answers, page_times = [], []
    while time.time() < until - PAGE_BOUND_SECONDS - HEALTH_BOUND_SECONDS:
        started = time.time()
        # Either may be first to meet the hang (or the breaker's next probe): take turns.
        for path in PATHS if len(answers) % 2 else reversed(PATHS):
            status, body, took = await asyncio.to_thread(get, port, path)
            if path == HEALTH:
                answers.append({"http": status, "took": took, **json.loads(body)})
            else:
                assert status == 200 and b"js-ltp-cell" in body
                page_times.append(took)
        await asyncio.sleep(max(0.0, started + ROUND_EVERY_SECONDS - time.time()))
    return answers, page_times


async def test_a_hung_redis_costs_health_and_the_page_seconds_not_the_hang(
    price_stack,
    tmp_path,
):
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")  # its own: stopped here
    try:
        stack = price_stack(1, redis_url=server.url)
        env, (port,), sim = stack.env, stack.ports, stack.sim
        manage("start_stream", "--type", "swing", "--symbols", ",".join(SWING), env=env)
        b = Battery(env, [port], sim, server, await subscribed_keys(sim, 6))
        await b.connect(port, "web0")
        await b.recovered("start", time.time())
        assert (await asyncio.to_thread(get, port, "/screeners/swing"))[0] == 200  # warm

        hung_until = time.time() + HANG_SECONDS
        server.proc.send_signal(signal.SIGSTOP)
        # Resumed on time whatever happens meanwhile: a request that waits for Redis then
        # gets its (late) answer, and the bounds below say by how much it missed.
        resume = asyncio.get_running_loop().call_later(
            HANG_SECONDS, server.proc.send_signal, signal.SIGCONT
        )
        try:
            answers, page_times = await ask_through_the_hang(port, hung_until)
            await asyncio.sleep(max(0.0, hung_until - time.time()))
        finally:
            resume.cancel()
            server.proc.send_signal(signal.SIGCONT)
        resumed = time.time()
        again = await b.recovered("Redis hung 15 s", resumed)
        health_took = max(a["took"] for a in answers)
        print(
            f"CHAOS redis hung: health {health_took:.1f} s, page {max(page_times):.1f} s, "
            f"prices again after {again:.1f} s"
        )
        assert max(page_times) <= PAGE_BOUND_SECONDS, page_times
        for answer in answers:
            assert answer["took"] <= HEALTH_BOUND_SECONDS, answers
            assert answer["http"] == 200 and answer["status"] == "error", answer
            assert "price cache unreachable" in answer["error"], answer
        assert len(answers) >= 3  # asked through the hang, not once it was over
        await stop_streams_and_clients(env, b.sim, b.stop, b.tasks)
        for client in b.clients:
            assert_only_its_keys_once_per_window(client)
    finally:
        server.proc.send_signal(signal.SIGCONT)
        server.stop()
