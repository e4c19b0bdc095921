"""The one embedded-or-Redis seam: what differs (the price store, depth interest, the
leader's lease, the price batches) is chosen by the deployment from settings at call time,
and a batch written by a feed reaches the readers in both shapes, on a thread and on an
event loop; a new leader's catch-up reads every last known price."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from prices.batches import (
    AsyncLocalBatches,
    AsyncRedisBatches,
    Batches,
    LocalBatches,
    RedisBatches,
    async_price_batches,
    price_batches,
)
from prices.cache import Batch, LocalPriceStore, RedisPriceStore, price_store
from prices.deployment import current
from prices.depthwatch import LocalDepthInterest, RedisDepthInterest, depth_interest
from prices.leader import RedisLease, SoleLease, lease

BATCH_WAIT_SECONDS = 5.0  # a polling bound
SHAPES = ["embedded", pytest.param("redis", marks=pytest.mark.e2e)]  # redis: a redis-server


def batch(prices: dict[str, float]) -> Batch:
    return Batch(prices=prices, message=json.dumps({"prices": prices}))


def test_embedded_every_part_is_the_processs_own(settings):
    settings.REDIS_URL = ""
    local = LocalDepthInterest()
    assert current().embedded and current().redis() is None
    assert isinstance(price_store(), LocalPriceStore)
    assert depth_interest(local) is local
    assert isinstance(lease("job", ttl_seconds=1), SoleLease)
    with price_batches(LocalPriceStore()) as batches:
        assert isinstance(batches, LocalBatches)


@pytest.mark.e2e
def test_with_redis_every_part_is_shared_through_it(settings, redis_url):
    settings.REDIS_URL = redis_url
    assert not current().embedded
    assert isinstance(price_store(), RedisPriceStore)
    assert isinstance(depth_interest(LocalDepthInterest()), RedisDepthInterest)
    assert isinstance(lease("job", ttl_seconds=1), RedisLease)
    with price_batches() as batches:
        assert isinstance(batches, RedisBatches)


def take(batches: Batches, count: int) -> list[str | bytes]:
    """The next `count` batches, read as the evaluator reads them (a None: none yet)."""
    got: list[str | bytes] = []
    deadline = time.monotonic() + BATCH_WAIT_SECONDS
    while len(got) < count and time.monotonic() < deadline:
        if (message := batches.get(timeout=0.1)) is not None:
            got.append(message)
    return got


@pytest.mark.parametrize("shape", SHAPES)
def test_a_thread_reads_every_batch_written_after_it_subscribed(shape, settings, request):
    settings.REDIS_URL = request.getfixturevalue("redis_url") if shape == "redis" else ""
    store = LocalPriceStore() if shape == "embedded" else price_store()
    with price_batches(store if isinstance(store, LocalPriceStore) else None) as batches:
        assert batches.get(timeout=0.05) is None  # nothing written yet
        store.write(batch({"NSE_EQ:2885": 1519.9}), ttl_seconds=30)
        store.write(batch({"NSE_EQ:2885": 1520.0}), ttl_seconds=30)
        got = take(batches, 2)
    assert [json.loads(m)["prices"] for m in got] == [
        {"NSE_EQ:2885": 1519.9},
        {"NSE_EQ:2885": 1520.0},
    ]
    if isinstance(store, LocalPriceStore):
        assert store.listeners == []  # leaving the block unsubscribed


@pytest.mark.parametrize("shape", SHAPES)
async def test_an_event_loop_reads_batches_and_a_catch_up_of_last_known_prices(
    shape, settings, request
):
    settings.REDIS_URL = request.getfixturevalue("redis_url") if shape == "redis" else ""
    store = LocalPriceStore() if shape == "embedded" else price_store()
    store.write(batch({"IDX_I:13": 26150.05}), ttl_seconds=30)  # before anyone read
    local = store if isinstance(store, LocalPriceStore) else None
    got: list[str | bytes] = []
    async with async_price_batches(local) as batches:
        last = await batches.last_prices()
        reader = asyncio.create_task(batches.read(got.append))
        await asyncio.sleep(0.05)  # (embedded: the reader's listener is in place)
        await asyncio.to_thread(store.write, batch({"NSE_EQ:2885": 1519.9}), ttl_seconds=30)
        async with asyncio.timeout(BATCH_WAIT_SECONDS):
            while not got:
                await asyncio.sleep(0.01)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    assert [json.loads(m)["prices"] for m in got] == [{"NSE_EQ:2885": 1519.9}]
    if shape == "redis":
        assert isinstance(batches, AsyncRedisBatches)
        assert last == {b"IDX_I:13": b"26150.05"}  # a new leader's first window carries it
    else:  # the one process has always led: nothing to catch up
        assert isinstance(batches, AsyncLocalBatches) and last == {}
        assert store.listeners == []
