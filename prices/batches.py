"""Where the deployment's leaders read the price batches the feeds announce (one message per
flush of `prices.sink.PriceSink`, the `live_ltp_updates` format): the broadcaster on its
event loop (`async_price_batches`, `prices.broadcast`), the alert evaluator on its thread
(`price_batches`, `alerts.service`). Redis pub/sub in the full stack; embedded, the
listeners of the process's `LocalPriceStore`. The deployment chooses; readers never ask.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
from collections.abc import Callable, Mapping
from types import TracebackType

import redis
import redis.asyncio as aioredis

from prices.cache import LAST_HASH, LIVE_UPDATES_CHANNEL, LocalPriceStore
from prices.deployment import current

logger = logging.getLogger(__name__)

BACKLOG_BATCHES = 10_000  # a thread's unread batches (embedded); beyond, they drop (logged)


class Batches:
    """A thread's subscription: subscribed when made (so a catch-up read after it misses
    nothing), ended by leaving its `with` block."""

    def __enter__(self) -> Batches:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def get(self, *, timeout: float) -> str | bytes | None:
        """The next batch, or None after `timeout` seconds without one."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class RedisBatches(Batches):
    def __init__(self, client: redis.Redis) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(LIVE_UPDATES_CHANNEL)

    def get(self, *, timeout: float) -> str | bytes | None:
        message = self._pubsub.get_message(timeout=timeout)
        return None if message is None else message["data"]

    def close(self) -> None:
        self._pubsub.close()


class LocalBatches(Batches):
    """Embedded mode: the store's writes, queued from the feeds' writer threads. Without
    a store (nothing feeds this process) it never has one."""

    def __init__(self, store: LocalPriceStore | None) -> None:
        self._listeners = store.listeners if store is not None else []
        self._queue: queue.Queue[str] = queue.Queue(maxsize=BACKLOG_BATCHES)
        self._listeners.append(self._put)

    def _put(self, message: str) -> None:  # on a feed's writer thread: never blocks
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            logger.warning("a price-batch reader is behind: a batch dropped")

    def get(self, *, timeout: float) -> str | bytes | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._listeners.remove(self._put)


def price_batches(local: LocalPriceStore | None = None) -> Batches:
    """A new subscription for a thread (`local`: embedded mode's store of this process)."""
    return current().choose(embedded=lambda: LocalBatches(local), shared=RedisBatches)


class AsyncBatches:
    """An event loop's subscription (`async with`); `read` passes every batch to a callback
    until cancelled. Redis's subscribes on entering, so the catch-up (`last_prices`) and
    `read` together miss nothing; embedded, the listener is in place as `read` starts."""

    async def __aenter__(self) -> AsyncBatches:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass

    async def last_prices(self) -> Mapping[str | bytes, str | bytes]:
        """Every key's last known price (for a new leader's catch-up), read once subscribed:
        the batches after it are as new or newer (the sink writes the hash first)."""
        return {}

    async def read(self, on_batch: Callable[[str | bytes], None]) -> None:
        raise NotImplementedError


class AsyncRedisBatches(AsyncBatches):
    """Owns its asyncio client."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._pubsub = client.pubsub()

    async def __aenter__(self) -> AsyncBatches:
        await self._pubsub.subscribe(LIVE_UPDATES_CHANNEL)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            with contextlib.suppress(redis.RedisError):
                await self._pubsub.aclose()
        finally:
            await self._client.aclose()

    async def last_prices(self) -> Mapping[str | bytes, str | bytes]:
        return await self._client.hgetall(LAST_HASH)

    async def read(self, on_batch: Callable[[str | bytes], None]) -> None:
        async for message in self._pubsub.listen():
            if message.get("type") == "message":
                on_batch(message["data"])


class AsyncLocalBatches(AsyncBatches):
    """Embedded mode: the store's writes, handed to the loop from the writer threads.
    Embedded mode's one process has always led: there is nothing to catch up."""

    def __init__(self, store: LocalPriceStore | None) -> None:
        self._listeners = store.listeners if store is not None else []

    async def read(self, on_batch: Callable[[str | bytes], None]) -> None:
        loop = asyncio.get_running_loop()

        def listener(message: str) -> None:  # called on a feed's writer thread
            loop.call_soon_threadsafe(on_batch, message)

        self._listeners.append(listener)
        try:
            await loop.create_future()  # until cancelled
        finally:
            self._listeners.remove(listener)


def async_price_batches(local: LocalPriceStore | None = None) -> AsyncBatches:
    """A new subscription for the running event loop, to enter with `async with`."""
    return current().choose_async(
        embedded=lambda: AsyncLocalBatches(local), shared=AsyncRedisBatches
    )
