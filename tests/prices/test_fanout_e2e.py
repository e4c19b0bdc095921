"""End to end with real processes: redis-server, a Celery worker, the DhanHQ simulator and
TWO daphne processes; WebSocket clients on both see exactly their keys, once per window."""
from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.request

import pytest
import websockets

from marketstream.simulator import DhanSimulator, SimulatorConfig
from tests.conftest import ManagedProcess, free_port, manage, manage_env, wait_for_port

SWING = ["RELIANCE", "TCS", "HDFCBANK", "INFY", "ITC", "SBIN"]
LONGTERM = ["LT", "TITAN", "MARUTI", "WIPRO", "ONGC", "NTPC"]


def key_map(env) -> dict[str, str]:
    rows = json.loads(manage("stream_status", "--json", env=env))
    return {row["key"]: row for row in rows}


class Client:
    def __init__(self, name: str, port: int, keys: list[str]) -> None:
        self.name, self.port, self.keys = name, port, set(keys)
        self.messages: list[dict] = []
        self.last: dict[str, float] = {}

    async def run(self, stop: asyncio.Event, subscribed: asyncio.Event) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws/dashboard/") as ws:
            await ws.send(json.dumps({"action": "subscribe", "keys": sorted(self.keys)}))
            while not stop.is_set():
                try:
                    async with asyncio.timeout(0.2):
                        message = json.loads(await ws.recv())
                except TimeoutError:
                    continue
                self.messages.append(message)
                if message["type"] == "snapshot":
                    subscribed.set()
                if message["type"] in ("snapshot", "screener_ltp_update"):
                    self.last.update(message["prices"])

    def updates(self) -> list[dict]:
        return [m for m in self.messages if m["type"] == "screener_ltp_update"]


@pytest.fixture
def stack(tmp_path, redis_url, processes):
    sim = DhanSimulator(SimulatorConfig(port=free_port(), rest_port=0, ticks_per_second=8,
                                        seed=4)).start()  # fmt: skip
    env = manage_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'fanout.sqlite3'}", REDIS_URL=redis_url,
        DHANHQ_FEED_URL=f"ws://127.0.0.1:{sim.port}", DHANHQ_CLIENT_ID="1000000001",
        DHANHQ_ACCESS_TOKEN="demo-token", DEV_MODE="true", LTP_BROADCAST_INTERVAL_MS="250",
    )
    for command in ("migrate", "load_instruments", "load_screeners"):
        manage(command, env=env)
    processes.append(ManagedProcess(
        [sys.executable, "-m", "celery", "-A", "marketstream", "worker", "-Q", "streams,celery",
         "-P", "threads", "-c", "4", "--without-mingle", "--without-gossip"],
        env=env, log=tmp_path / "worker.log"))  # fmt: skip
    ports = [free_port(), free_port()]
    for i, port in enumerate(ports):
        processes.append(ManagedProcess(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "marketstream.asgi:application"], env=env, log=tmp_path / f"web{i}.log"))
    for port in ports:
        wait_for_port(port)
    yield env, ports, sim
    sim.stop()


async def test_clients_on_two_daphne_processes_get_their_keys_once_per_window(stack):
    env, (web1, web2), sim = stack
    swing = manage("start_stream", "--type", "swing", "--symbols", ",".join(SWING),
                   env=env).strip()  # fmt: skip
    longterm = manage("start_stream", "--type", "longterm", "--symbols", ",".join(LONGTERM),
                      env=env).strip()  # fmt: skip
    deadline = time.monotonic() + 20
    while len(sim.subscribed_keys()) < 12 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    all_keys = sorted(str(k) for k in sim.subscribed_keys())
    assert len(all_keys) == 12
    set1, set2 = all_keys[:7], all_keys[5:]  # overlapping on purpose
    clients = [Client("a", web1, set1), Client("b", web2, set2), Client("c", web1, set2),
               Client("d", web2, set1)]
    stop = asyncio.Event()
    ready = [asyncio.Event() for _ in clients]
    tasks = [asyncio.create_task(c.run(stop, r)) for c, r in zip(clients, ready, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 10)
    await asyncio.sleep(6)
    await asyncio.to_thread(manage, "stop_stream", "--all", env=env)
    while sim.connection_count and time.monotonic() < deadline + 30:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # the last flush's window goes out
    stop.set()
    await asyncio.gather(*tasks)

    for client in clients:
        updates = client.updates()
        assert len(updates) >= 10, (client.name, len(updates))
        for message in client.messages:
            if message["type"] in ("snapshot", "screener_ltp_update"):
                assert set(message["prices"]) <= client.keys, client.name  # only its keys
        seqs = [u["seq"] for u in updates]
        assert seqs == sorted(set(seqs)), client.name  # each window once, in order
    # Clients with the same keys on different processes saw the same windows.
    for x, y in ((clients[0], clients[3]), (clients[1], clients[2])):
        assert {u["seq"]: u["prices"] for u in x.updates()[2:-2]}.items() <= \
            {u["seq"]: u["prices"] for u in y.updates()}.items()
    # The last price of the burst arrived: what clients last saw is what the cache says.
    url = f"http://127.0.0.1:{web1}/api/v1/current_prices?keys=" + ",".join(all_keys)
    with urllib.request.urlopen(url, timeout=5) as response:
        cached = json.loads(response.read())["prices"]
    assert set(cached) == set(all_keys)
    for client in clients:
        assert client.last == {k: cached[k] for k in client.keys}, client.name
    assert {swing, longterm} == set(key_map(env))
