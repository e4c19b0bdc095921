"""The fault battery's parts (`make chaos`: tests/chaos): `Battery` holds a deployment's
clients and measures recovery after each fault; `finish` stops everything and checks
that nothing is left behind and every client's messages kept the invariants."""

from __future__ import annotations

import asyncio
import json
import time

from dhan.simulator import DhanSimulator
from tests.support.fanout import Client, assert_only_its_keys_once_per_window
from tests.support.processes import manage
from tests.support.redis import RedisServer
from tests.support.waiting import wait_until_async

POLL_SECONDS = 0.05
RECOVERY: dict[str, float] = {}  # each fault's recovery time, for the battery's summary


class Battery:
    """A deployment's clients (all on `keys`) and what each fault cost them."""

    def __init__(
        self,
        env: dict[str, str],
        ports: list[int],
        sim: DhanSimulator,
        server: RedisServer,
        keys: list[str],
    ) -> None:
        self.env, self.ports, self.sim, self.server, self.keys = env, ports, sim, server, keys
        self.clients: list[Client] = []
        self.tasks: list[asyncio.Task] = []
        self.stop = asyncio.Event()

    async def connect(self, port: int, name: str) -> Client:
        """A client on the web process at `port`, once it has its snapshot."""
        client, ready = Client(name, port, self.keys), asyncio.Event()
        self.clients.append(client)
        self.tasks.append(asyncio.create_task(client.run(self.stop, ready)))
        await asyncio.wait_for(ready.wait(), 20)
        return client

    async def new_upstream(self, timeout: float = 30) -> float:
        """When the feed connected to the simulator again (windows in flight from before a
        fault would otherwise look like recovery)."""
        before = self.sim.connections_total
        await wait_until_async(
            lambda: self.sim.connections_total != before,
            timeout=timeout,
            what="a new upstream connection",
            interval=POLL_SECONDS,
        )
        return time.time()

    async def recovered(
        self,
        fault: str,
        since: float,
        clients: list[Client] | None = None,
        timeout: float = 45,
        fresh_after: float = 0,
    ) -> float:
        """Seconds from `since` until every (given) client has a window newer than it (and
        than `fresh_after`)."""
        fresh_after = max(since, fresh_after)
        clients = clients or [
            c for c, t in zip(self.clients, self.tasks, strict=True) if not t.done()
        ]
        await wait_until_async(
            lambda: all(any(u["ts"] > fresh_after for u in c.updates()) for c in clients),
            timeout=timeout,
            what=f"fresh prices after {fault}",
            interval=POLL_SECONDS,
        )
        took = time.time() - since
        RECOVERY[fault] = took
        print(f"CHAOS {fault}: recovered in {took:.1f} s")
        await asyncio.sleep(1)  # a few more windows before the next fault
        return took

    def owner_pid(self, key: str) -> int:
        """The process id of the worker that runs stream `key`."""
        rows = {r["key"]: r for r in json_rows(self.env)}
        return int(rows[key]["worker"].rsplit(":", 1)[1])

    def leftovers(self) -> tuple[list, int, list]:
        """Stream locks in Redis, upstream sockets, stream threads in the workers."""
        cache = self.server.client()
        locks = cache.keys("market_stream:lock:*") + cache.keys("market_stream:connection:*")
        return locks, self.sim.connection_count, stream_threads(self.server.url)


def json_rows(env: dict[str, str]) -> list[dict]:
    return json.loads(manage("stream_status", "--json", env=env))


def stream_threads(url: str) -> list[str]:
    from celery import Celery

    replies = Celery(broker=url).control.broadcast("stream_threads", reply=True, timeout=1)
    return [k for reply in replies for result in reply.values() for k in result["keys"]]


async def finish(b: Battery) -> None:
    """Stop everything; nothing left behind; every client's messages kept the invariants,
    and the live ones ended on the latest value."""
    await asyncio.to_thread(manage, "stop_stream", "--all", env=b.env)
    await wait_until_async(
        lambda: b.leftovers() == ([], 0, []), timeout=30, what="nothing left behind", interval=0.2
    )
    await asyncio.sleep(1.5)  # the last flush's window goes out
    b.stop.set()
    await asyncio.gather(*b.tasks)
    last_known = b.server.client().hgetall("ltp_last")
    for client, task in zip(b.clients, b.tasks, strict=True):
        assert_only_its_keys_once_per_window(client)
        if client.name != "web0":  # web0's process was killed under it
            assert not task.exception()
            for k in b.keys:
                assert client.last[k] == float(last_known[k.encode()]), (client.name, k)
