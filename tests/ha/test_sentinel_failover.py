"""Redis high availability: the whole stack through three sentinels (no REDIS_URL), the
master killed under a running stream and a connected client, the client's next price."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.fanout import (
    SWING,
    Client,
    assert_only_its_keys_once_per_window,
    stop_streams_and_clients,
    subscribed_keys,
)
from tests.support.processes import manage
from tests.support.redis import SentinelCluster

pytestmark = pytest.mark.e2e


async def test_a_client_gets_the_next_price_after_the_master_is_killed(price_stack, tmp_path):
    (tmp_path / "ha").mkdir()
    cluster = SentinelCluster(tmp_path / "ha")
    try:
        stack = price_stack(
            1, redis_url="redis://not-used-with-sentinels", REDIS_SENTINELS=cluster.sentinels
        )
        env, (web,), sim = stack.env, stack.ports, stack.sim
        manage("start_stream", "--type", "swing", "--symbols", ",".join(SWING), env=env)
        keys = await subscribed_keys(sim, 6)
        client = Client("a", web, keys)
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(client.run(stop, ready))
        await asyncio.wait_for(ready.wait(), 15)
        await asyncio.sleep(2)
        assert client.updates(), "prices flow through the first master"
        old_master = cluster.master_address()

        cluster.kill_master()
        killed_at = time.time()
        async with asyncio.timeout(45):
            while not any(u["ts"] > killed_at + 0.5 for u in client.updates()):
                await asyncio.sleep(0.05)
        recovered = time.time() - killed_at
        print(f"Sentinel failover: the client's next price {recovered:.1f} s after the kill")
        assert cluster.master_address() != old_master  # the replica was promoted
        await asyncio.sleep(3)  # windows keep coming from the new master
        fresh = [u for u in client.updates() if u["ts"] > killed_at + recovered]
        assert len(fresh) >= 3
        await stop_streams_and_clients(env, sim, stop, [task])
    finally:
        cluster.stop()
    assert_only_its_keys_once_per_window(client)
    assert not task.exception()  # the socket stayed open throughout
