"""End to end with real processes: redis-server, a Celery worker, the DhanHQ simulator and
two (then four) daphne processes; WebSocket clients on all of them see exactly their keys,
once per window, also when the broadcasting process dies."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis

from prices.broadcast import LEADER_KEY, LEADER_TTL_MIN_SECONDS
from tests.support.fanout import (
    LONGTERM,
    SWING,
    Client,
    assert_only_its_keys_once_per_window,
    current_prices,
    stop_streams_and_clients,
    subscribed_keys,
)
from tests.support.processes import manage
from tests.support.redis import RedisServer

pytestmark = pytest.mark.e2e


def key_map(env) -> dict[str, str]:
    rows = json.loads(manage("stream_status", "--json", env=env))
    return {row["key"]: row for row in rows}


async def test_clients_on_two_daphne_processes_get_their_keys_once_per_window(price_stack):
    stack = price_stack(2)
    env, (web1, web2), sim = stack.env, stack.ports, stack.sim
    swing = manage("start_stream", "--type", "swing", "--symbols", ",".join(SWING), env=env).strip()
    longterm = manage(
        "start_stream", "--type", "longterm", "--symbols", ",".join(LONGTERM), env=env
    ).strip()
    all_keys = await subscribed_keys(sim, 12)
    assert len(all_keys) == 12
    set1, set2 = all_keys[:7], all_keys[5:]  # overlapping on purpose
    clients = [
        Client("a", web1, set1),
        Client("b", web2, set2),
        Client("c", web1, set2),
        Client("d", web2, set1),
    ]
    stop = asyncio.Event()
    ready = [asyncio.Event() for _ in clients]
    tasks = [asyncio.create_task(c.run(stop, r)) for c, r in zip(clients, ready, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 10)
    await asyncio.sleep(6)
    await stop_streams_and_clients(env, sim, stop, tasks)

    for client in clients:
        assert len(client.updates()) >= 10, (client.name, len(client.updates()))
        assert_only_its_keys_once_per_window(client)
    # Clients with the same keys on different processes saw the same windows.
    for x, y in ((clients[0], clients[3]), (clients[1], clients[2])):
        assert {u["seq"]: u["prices"] for u in x.updates()[2:-2]}.items() <= {
            u["seq"]: u["prices"] for u in y.updates()
        }.items()
    # The last price of the burst arrived: what clients last saw is what the cache says.
    cached = current_prices(web1, all_keys)
    assert set(cached) == set(all_keys)
    for client in clients:
        assert client.last == {k: cached[k] for k in client.keys}, client.name
    assert {swing, longterm} == set(key_map(env))


FIVE_STREAMS = [
    ("swing", "RELIANCE,TCS,HDFCBANK"),
    ("swing", "INFY,ITC,SBIN"),
    ("longterm", "LT,TITAN,MARUTI"),
    ("longterm", "WIPRO,ONGC,NTPC"),
    ("swing", "BHARTIARTL,ICICIBANK,AXISBANK"),
]


def leader_pid(redis_url: str) -> int:
    token = redis.Redis.from_url(redis_url).get(LEADER_KEY)  # "host:pid:token"
    return int(token.decode().split(":")[1])


def gap_around(times: list[float], moment: float) -> float:
    """The time between the last update before `moment` and the first one after it."""
    return min(b for b in times if b > moment) - max(a for a in times if a <= moment)


async def test_four_processes_five_streams_and_the_broadcasting_process_going_away(
    price_stack, redis_url
):
    stack = price_stack(4)
    env, ports, sim, webs = stack.env, stack.ports, stack.sim, stack.webs
    await asyncio.gather(
        *(
            asyncio.to_thread(manage, "start_stream", "--type", kind, "--symbols", symbols, env=env)
            for kind, symbols in FIVE_STREAMS
        )
    )
    all_keys = await subscribed_keys(sim, 15)
    assert sim.connection_count == 5  # one feed per stream, the client id's five slots
    stop = asyncio.Event()
    # The first client's process is the only one broadcasting when it connects: it leads.
    first = Client("first", ports[0], all_keys)
    ready = [asyncio.Event()]
    tasks = [asyncio.create_task(first.run(stop, ready[0]))]
    async with asyncio.timeout(10):
        while not first.updates():
            await asyncio.sleep(0.05)
    assert leader_pid(redis_url) == webs[0].proc.pid
    clients = [
        Client(f"{port}-{half}", port, keys)
        for port in ports[1:]
        for half, keys in (("a", all_keys[:9]), ("b", all_keys[6:]))
    ]
    ready += [asyncio.Event() for _ in clients]
    tasks += [asyncio.create_task(c.run(stop, r)) for c, r in zip(clients, ready[1:], strict=True)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 10)
    await asyncio.sleep(3)
    stopped_at = time.time()
    webs[0].proc.terminate()  # a clean stop (a deploy): it hands the lead over at once
    await asyncio.sleep(4)
    assert webs[0].proc.poll() == 0  # and it did stop, promptly and cleanly
    successor = next(w for w in webs if w.proc.pid == leader_pid(redis_url))
    killed_at = time.time()
    successor.proc.kill()  # a crash: no clean-up, its lock must lapse
    await asyncio.sleep(LEADER_TTL_MIN_SECONDS + 4)
    await stop_streams_and_clients(env, sim, stop, tasks)

    survivors = [c for c in clients if c.port != ports[webs.index(successor)]]
    assert len(survivors) == 4
    for client in survivors:
        assert_only_its_keys_once_per_window(client)
        times = [u["ts"] for u in client.updates()]
        assert gap_around(times, stopped_at) < 2.0, client.name
        # The lock's TTL, a standby's retry, a window.
        assert gap_around(times, killed_at) < LEADER_TTL_MIN_SECONDS + 1.5, client.name
    cached = current_prices(survivors[0].port, all_keys)
    assert set(cached) == set(all_keys)
    for client in survivors:  # the last price of every key arrived, leader or not
        assert client.last == {k: cached[k] for k in client.keys}, client.name


async def test_clients_keep_getting_prices_across_a_redis_restart(price_stack, tmp_path):
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")  # its own: restarted here
    try:
        stack = price_stack(1, redis_url=server.url)
        env, (web,), sim = stack.env, stack.ports, stack.sim
        manage("start_stream", "--type", "swing", "--symbols", ",".join(SWING), env=env)
        keys = await subscribed_keys(sim, 6)
        client = Client("a", web, keys)
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(client.run(stop, ready))
        await asyncio.wait_for(ready.wait(), 10)
        await asyncio.sleep(2)
        server.stop()  # everything in it is gone: locks, cache, subscriptions
        await asyncio.sleep(2)
        server.start()
        back_at = time.time()
        async with asyncio.timeout(20):
            while not any(u["ts"] > back_at for u in client.updates()):
                await asyncio.sleep(0.1)
        await asyncio.sleep(3)
        await stop_streams_and_clients(env, sim, stop, [task])
    finally:
        server.stop()
    assert_only_its_keys_once_per_window(client)
    assert not task.exception()  # the socket stayed open throughout
