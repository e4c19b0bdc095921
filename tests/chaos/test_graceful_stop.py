"""`make chaos`: a graceful worker stop (SIGTERM, as a deploy does) in the battery's
deployment — Redis, two Celery workers, two daphne processes, the simulator, a client on
each web process. The worker that runs the stream hands it over as it stops and the other
worker starts it: clients get fresh prices within 3 s of the stop (the issue's bound), never
two upstream sockets for the key, and the battery's invariants hold (own keys only, each
window once and in order, the latest value delivered, nothing left behind). Prints
`CHAOS worker stopped gracefully: recovered in X.X s`."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from celery import Celery

from tests.support.battery import Battery, finish
from tests.support.fanout import SWING, WINDOW_MS, subscribed_keys
from tests.support.processes import manage

pytestmark = pytest.mark.e2e

HANDOVER_BOUND_SECONDS = 3.0  # the issue's: prices flow again within this of the stop


async def two_workers_ready(redis_url: str) -> None:
    control = Celery(broker=redis_url).control
    async with asyncio.timeout(60):
        while len(await asyncio.to_thread(control.ping, timeout=0.5)) < 2:
            await asyncio.sleep(0.2)


async def most_sockets(sim, stop: asyncio.Event) -> int:
    """The most upstream sockets open at once until `stop` (one key: at most one)."""
    most = 0
    while not stop.is_set():
        most = max(most, sim.connection_count)
        await asyncio.sleep(0.005)
    return most


async def test_a_graceful_worker_stop_hands_the_stream_over_within_3_s(
    price_stack,
    redis_server,
    redis_url,
):
    stack = price_stack(
        2,
        redis_url=redis_url,
        DHANHQ_WATCHDOG_SILENCE_SECONDS="3",
        DHANHQ_RECONNECT_MAX_DELAY_SECONDS="1",
    )
    env, ports, sim = stack.env, stack.ports, stack.sim
    workers = [*stack.workers, stack.worker("second", node="second")]
    await two_workers_ready(redis_url)
    key = manage("start_stream", "--type", "swing", "--symbols", ",".join(SWING), env=env)
    b = Battery(env, ports, sim, redis_server, await subscribed_keys(sim, 6))
    for i, port in enumerate(ports):
        await b.connect(port, f"client{i}")  # every client's last price is checked at the end
    await b.recovered("start", time.time())

    pid = b.owner_pid(key.strip())
    (stopping,) = [w for w in workers if w.proc.pid == pid]
    (other,) = [w for w in workers if w.proc.pid != pid]
    watch_stop = asyncio.Event()
    sockets = asyncio.create_task(most_sockets(sim, watch_stop))
    stopped = time.time()
    stopping.proc.send_signal(signal.SIGTERM)
    reconnected = await b.new_upstream()
    # A window after the new connection's first: the old connection's last flush, still
    # going out when the new one connected, is no recovery.
    took = await b.recovered(
        "worker stopped gracefully", stopped, fresh_after=reconnected + WINDOW_MS / 1000
    )
    watch_stop.set()
    assert took <= HANDOVER_BOUND_SECONDS
    assert await sockets == 1  # one live connection per key, the hand-over included
    assert await asyncio.to_thread(stopping.proc.wait, 20) == 0
    assert b.owner_pid(key.strip()) == other.proc.pid
    await finish(b)
