"""20-level depth end to end with real processes (redis-server, a Celery worker, two daphne
processes, the simulator): watchers on each web process get exactly the simulator's books,
the depth socket closes after its last watcher, and a full connection budget gives 5
levels from full mode, marked so."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets

from dhan.limits import MAX_CONNECTIONS_PER_CLIENT
from dhan.segments import InstrumentKey
from tests.support.processes import manage
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.e2e

IDLE_SECONDS = 3
RELIANCE, TCS = "NSE_EQ:2885", "NSE_EQ:11536"


class DepthWatcher:
    """One browser watching one instrument's depth; keeps every book it was sent."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.books: list[dict] = []
        self.other_keys: set[str] = set()
        self.subscribed_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws/dashboard/") as ws:
            await ws.send(json.dumps({"action": "subscribe", "mode": "depth", "keys": [self.key]}))
            self.subscribed_at = time.monotonic()
            while not stop.is_set():
                try:
                    async with asyncio.timeout(0.2):
                        message = json.loads(await ws.recv())
                except TimeoutError:
                    continue
                if message["type"] in ("depth_snapshot", "depth_update"):
                    self.other_keys |= set(message["depth"]) - {self.key}
                    if self.key in message["depth"]:
                        self.books.append(message["depth"][self.key])

    def latest(self, source: str) -> dict | None:
        return next((b for b in reversed(self.books) if b["source"] == source), None)


def simulator_book(sim, key: str) -> dict:
    bids, asks = sim.prices.depth(InstrumentKey.parse(key), 20)
    row = lambda r: {"price": r[0], "quantity": r[1], "orders": r[2]}  # noqa: E731
    return {"bids": [row(r) for r in bids], "asks": [row(r) for r in asks]}


async def test_watchers_on_two_processes_get_the_simulators_twenty_level_books(price_stack):
    stack = price_stack(2, DEPTH_IDLE_SECONDS=str(IDLE_SECONDS))
    env, (web1, web2), sim = stack.env, stack.ports, stack.sim
    manage(
        "start_stream", "--type", "swing", "--symbols", "RELIANCE,TCS", "--mode", "full", env=env
    )
    stop = asyncio.Event()
    watchers = [DepthWatcher(web1, RELIANCE), DepthWatcher(web2, TCS)]
    tasks = [asyncio.create_task(w.run(stop)) for w in watchers]
    for w in watchers:
        await wait_until_async(
            lambda w=w: w.latest("depth20"), timeout=15, what=f"20 levels of {w.key}"
        )
        opened = time.monotonic() - w.subscribed_at
        print(f"{w.key}: first 20-level book {opened:.2f} s after subscribing")
    assert sim.depth.connections_total == 1  # one socket for the deployment
    assert {str(k) for k in sim.depth.subscribed_keys()} == {RELIANCE, TCS}

    sim.silent = True  # the price stands still; the depth connection republishes each second
    await asyncio.sleep(2.5)
    for w in watchers:
        book = w.latest("depth20")
        assert book["levels"] == 20 and len(book["bids"]) == len(book["asks"]) == 20
        assert {"bids": book["bids"], "asks": book["asks"]} == simulator_book(sim, w.key)
        assert not w.other_keys  # only its own instrument
    sim.silent = False

    stop.set()
    await asyncio.gather(*tasks)
    left = time.monotonic()
    await wait_until_async(
        lambda: not sim.depth.sessions, timeout=IDLE_SECONDS + 5, what="depth close"
    )
    print(f"depth socket closed {time.monotonic() - left:.2f} s after the last watcher left")
    rows = {r["key"]: r for r in json.loads(manage("stream_status", "--json", env=env))}
    assert rows["depth20"]["state"] == "idle"  # not running because nobody watches


async def test_a_full_connection_budget_gives_five_levels_from_full_mode(price_stack):
    stack = price_stack(2, DEPTH_IDLE_SECONDS=str(IDLE_SECONDS))
    env, (web1, _), sim = stack.env, stack.ports, stack.sim
    symbols = ["RELIANCE", "TCS", "INFY", "ITC", "SBIN"][:MAX_CONNECTIONS_PER_CLIENT]
    for symbol in symbols:  # five market feeds: the client id's whole budget
        manage("start_stream", "--type", "swing", "--symbols", symbol, "--mode", "full", env=env)
    await wait_until_async(
        lambda: sim.connection_count == MAX_CONNECTIONS_PER_CLIENT, timeout=30, what="5 feeds"
    )
    stop = asyncio.Event()
    watcher = DepthWatcher(web1, RELIANCE)
    task = asyncio.create_task(watcher.run(stop))
    await wait_until_async(lambda: len(watcher.books) >= 5, timeout=15, what="books")
    await asyncio.sleep(3)  # room for a depth socket that should not open
    stop.set()
    await task
    assert sim.depth.connections_total == 0
    assert sim.connection_count == MAX_CONNECTIONS_PER_CLIENT  # no feed was evicted
    assert {(b["levels"], b["source"]) for b in watcher.books} == {(5, "full")}
    assert all(len(b["bids"]) == 5 for b in watcher.books)
