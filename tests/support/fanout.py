"""The fan-out deployment and what its tests check (tests/prices/test_fanout_e2e.py and
test_depth_e2e.py, tests/chaos, tests/ha): the simulator in the test's process on the
instrument table's grid, a Stack with a Celery worker and daphne processes (made by
tests/conftest.py's `price_stack`), a WebSocket client that keeps every window it gets,
and the invariants of docs/design.md (own keys only, each window once and in order)."""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.request

import websockets

from dhan.simulator import DhanSimulator, SimulatorConfig
from tests.support.instruments import sample_tick_sizes
from tests.support.processes import free_port, manage
from tests.support.stack import Stack
from tests.support.waiting import wait_until_async

SWING = ["RELIANCE", "TCS", "HDFCBANK", "INFY", "ITC", "SBIN"]
LONGTERM = ["LT", "TITAN", "MARUTI", "WIPRO", "ONGC", "NTPC"]
WINDOW_MS = 250
SIMULATOR_TICKS_PER_SECOND = 8


def price_simulator() -> DhanSimulator:
    """The deployment's DhanHQ, started: prices on the grid the instrument table says."""
    config = SimulatorConfig(
        port=free_port(), rest_port=0, ticks_per_second=SIMULATOR_TICKS_PER_SECOND, seed=4
    )
    return DhanSimulator(config, tick_size=sample_tick_sizes()).start()


def deploy_prices(stack: Stack, *, web_count: int) -> Stack:
    """The whole deployment on `stack`: its database with the sample instruments and
    screeners, a Celery worker, `web_count` daphne processes."""
    stack.prepare()
    stack.worker()
    stack.daphnes(web_count)
    return stack


class Client:
    """One browser tab on the web process at `port`, subscribed to `keys`: keeps every
    message, and the last price of each key."""

    def __init__(self, name: str, port: int, keys: list[str]) -> None:
        self.name, self.port, self.keys = name, port, set(keys)
        self.messages: list[dict] = []
        self.last: dict[str, float] = {}

    async def run(self, stop: asyncio.Event, subscribed: asyncio.Event) -> None:
        """Until `stop`, or until the server goes away."""
        async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws/dashboard/") as ws:
            await ws.send(json.dumps({"action": "subscribe", "keys": sorted(self.keys)}))
            while not stop.is_set():
                try:
                    async with asyncio.timeout(0.2):
                        message = json.loads(await ws.recv())
                except TimeoutError:
                    continue
                except websockets.ConnectionClosed:
                    return
                self.messages.append(message)
                if message["type"] == "snapshot":
                    subscribed.set()
                if message["type"] in ("snapshot", "screener_ltp_update"):
                    self.last.update(message["prices"])

    def updates(self) -> list[dict]:
        """The windows it got, in order."""
        return [m for m in self.messages if m["type"] == "screener_ltp_update"]


def current_prices(port: int, keys: list[str]) -> dict[str, float]:
    """What the price API of the web process at `port` says `keys` cost."""
    url = f"http://127.0.0.1:{port}/api/v1/current_prices?keys=" + ",".join(keys)
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())["prices"]


async def subscribed_keys(sim: DhanSimulator, count: int) -> list[str]:
    """The keys the simulator's feeds subscribe, once there are `count` of them."""
    await wait_until_async(
        lambda: len(sim.subscribed_keys()) >= count, timeout=30, what=f"{count} keys subscribed"
    )
    return sorted(str(k) for k in sim.subscribed_keys())


async def stop_streams_and_clients(
    env: dict[str, str], sim: DhanSimulator, stop: asyncio.Event, tasks: list[asyncio.Task]
) -> None:
    """Every stream stopped, the last window delivered, then the clients."""
    await asyncio.to_thread(manage, "stop_stream", "--all", env=env)
    await wait_until_async(
        lambda: not sim.connection_count, timeout=30, what="every upstream socket closed"
    )
    await asyncio.sleep(1.5)  # the last flush's window goes out
    stop.set()
    await asyncio.gather(*tasks)


def assert_only_its_keys_once_per_window(client: Client) -> None:
    """The invariants of docs/design.md for what `client` received."""
    for message in client.messages:
        if message["type"] in ("snapshot", "screener_ltp_update"):
            assert set(message["prices"]) <= client.keys, client.name  # only its keys
    seqs = [u["seq"] for u in client.updates()]
    assert seqs == sorted(set(seqs)), client.name  # each window once, in order
    # Windows fall on multiples of the interval: two senders would show as two updates
    # within a few ms of each other.
    assert all(b - a >= WINDOW_MS // 2 for a, b in itertools.pairwise(seqs)), client.name
