"""Who watches 20-level depth, deployment-wide: every web process records the keys its
clients watch in depth mode (`DepthWatchers`, owned by its `LivePrices`), and the depth
connection (`marketstream.connections.depth`) and its supervisor read the union.

With Redis it is one sorted set, `market_stream:depth:interest`, member `PROCESS|KEY`,
score the time it lapses: a process refreshes its members every few seconds and removes
them as its last watcher of a key leaves, and a dead process's lapse on their own. Embedded
mode keeps the same in the process (`LocalDepthInterest`).

20-level books live beside the 5-level ones under `depth20:SEG:SID` with a short TTL: the
depth connection rewrites them every second while it is connected, so a failed depth socket
leaves only full mode's books within seconds (`read_books` prefers the 20-level one).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable

import redis
from asgiref.sync import sync_to_async

from prices.cache import DEPTH_KEY_PREFIX, PriceStore, price_store
from prices.deployment import current

logger = logging.getLogger(__name__)

DEPTH_INTEREST_KEY = "market_stream:depth:interest"
DEPTH20_KEY_PREFIX = "depth20:"  # depth20:SEG:SID -> a 20-level BOOK as JSON
DEPTH20_TTL_SECONDS = 5
INTEREST_TTL_SECONDS = 10.0  # a process that stops refreshing is forgotten after this
REFRESH_SECONDS = 3.0


class DepthInterest:
    """The deployment's depth watchers. Blocking: call it off any event loop."""

    def mark(self, process: str, keys: Iterable[str], *, now: float | None = None) -> None:
        """`process` watches exactly `keys` now (an empty set forgets it)."""
        raise NotImplementedError

    def watched(self, *, now: float | None = None) -> set[str]:
        """Every key some live process watches."""
        raise NotImplementedError


def _text(member: object) -> str:
    return member.decode() if isinstance(member, bytes) else str(member)


class RedisDepthInterest(DepthInterest):
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def mark(self, process: str, keys: Iterable[str], *, now: float | None = None) -> None:
        expires = (now or time.time()) + INTEREST_TTL_SECONDS
        prefix = f"{process}|"
        members = {prefix + key: expires for key in keys}
        mine = [
            m
            for m in map(_text, self.client.zrange(DEPTH_INTEREST_KEY, 0, -1))
            if m.startswith(prefix) and m not in members
        ]
        pipe = self.client.pipeline(transaction=False)
        if mine:
            pipe.zrem(DEPTH_INTEREST_KEY, *mine)
        if members:
            pipe.zadd(DEPTH_INTEREST_KEY, members)
        pipe.execute()

    def watched(self, *, now: float | None = None) -> set[str]:
        pipe = self.client.pipeline(transaction=False)
        pipe.zremrangebyscore(DEPTH_INTEREST_KEY, "-inf", now or time.time())
        pipe.zrange(DEPTH_INTEREST_KEY, 0, -1)
        members = pipe.execute()[1]
        return {_text(m).partition("|")[2] for m in members}


class LocalDepthInterest(DepthInterest):
    """Embedded mode: the one process's watchers. Thread-safe."""

    def __init__(self) -> None:
        self._members: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def mark(self, process: str, keys: Iterable[str], *, now: float | None = None) -> None:
        expires = (now or time.time()) + INTEREST_TTL_SECONDS
        with self._lock:
            for member in [m for m in self._members if m[0] == process]:
                del self._members[member]
            self._members.update(((process, key), expires) for key in keys)

    def watched(self, *, now: float | None = None) -> set[str]:
        now = now or time.time()
        with self._lock:
            return {key for (_, key), expires in self._members.items() if expires > now}


def depth_interest(local: LocalDepthInterest | None = None) -> DepthInterest:
    """The deployment's: Redis's in the full stack; embedded, `local` (the process's own)."""
    return current().choose(
        embedded=lambda: local or LocalDepthInterest(), shared=RedisDepthInterest
    )


def read_books(keys: Iterable[str], *, store: PriceStore | None = None) -> dict[str, dict]:
    """The freshest BOOK of each key: 20 levels while the depth socket serves it, else the
    5 levels of full mode."""
    keys = list(keys)
    store = store or price_store()
    books = store.read_records(DEPTH20_KEY_PREFIX, keys)
    missing = [k for k in keys if k not in books]
    if missing:
        books.update(store.read_records(DEPTH_KEY_PREFIX, missing))
    return books


class DepthWatchers:
    """This web process's depth watchers (counted per key over its clients), written to
    the deployment's interest: at once when the set of keys changes, and every
    REFRESH_SECONDS while any remain. Owned by the process's `LivePrices`."""

    def __init__(self, interest: DepthInterest) -> None:
        self._interest = interest
        self.process = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._counts: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self._counts)

    def change(self, added: Iterable[str] = (), removed: Iterable[str] = ()) -> None:
        """One client's depth keys changed (on the serving loop)."""
        before = set(self._counts)
        self._counts.update(added)
        self._counts.subtract(removed)
        self._counts = +self._counts  # drop keys nobody watches any more
        if set(self._counts) != before:
            self._changed.set()
            self._ensure_running()

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="depth-watch")

    async def _run(self) -> None:
        mark = sync_to_async(self._interest.mark, thread_sensitive=False)
        while True:
            self._changed.clear()
            keys = set(self._counts)
            try:
                await mark(self.process, keys)
            except redis.RedisError as exc:
                logger.warning("could not record depth watchers: %s", exc)
            if self._changed.is_set():
                continue  # changed while it was written
            if not keys:
                return
            try:
                await asyncio.wait_for(self._changed.wait(), REFRESH_SECONDS)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        """As the process stops serving: its watchers are forgotten at once."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._counts:
            self._counts.clear()
            try:
                await sync_to_async(self._interest.mark, thread_sensitive=False)(self.process, ())
            except redis.RedisError:
                pass  # they lapse within INTEREST_TTL_SECONDS anyway
