"""The broadcaster against a real redis-server: one leader at a time, and a new leader's
first window carries every last-known price (what was published while nobody led)."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from prices.broadcast import GROUP, Broadcaster
from prices.cache import RedisPriceStore, redis_client
from prices.leader import AsyncLease
from prices.sink import PriceSink

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def full_stack(settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.DEV_MODE = True
    settings.LTP_BROADCAST_INTERVAL_MS = 100
    return PriceSink(store=RedisPriceStore(redis_client(redis_url)))


async def windows_from(channel: str, *, count: int) -> list[dict]:
    layer = get_channel_layer()
    received = []
    async with asyncio.timeout(10):
        while len(received) < count:
            message = await layer.receive(channel)
            if json.loads(message["prices"]):
                received.append(message)
    return received


async def drain(channel: str) -> None:
    layer = get_channel_layer()
    while True:
        try:
            async with asyncio.timeout(0.05):
                await layer.receive(channel)
        except TimeoutError:
            return


@pytest.fixture
async def member():
    """A channel in `dashboard_updates`, standing for a web process; it leaves at the end."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(GROUP, channel)
    yield channel
    await layer.group_discard(GROUP, channel)


async def flush(sink: PriceSink, prices: dict[str, float]) -> None:
    sink.put_many(prices.items())
    await sync_to_async(sink.flush)()


@pytest.mark.e2e
async def test_a_new_leader_first_sends_every_last_known_price_then_only_changes(
    full_stack, member
):
    channel = member
    await flush(full_stack, {"NSE_EQ:2885": 1519.9, "IDX_I:13": 26150.05})  # nobody leads
    broadcaster = Broadcaster()
    broadcaster.ensure_running()
    try:
        (first,) = await windows_from(channel, count=1)
        assert json.loads(first["prices"]) == {"NSE_EQ:2885": 1519.9, "IDX_I:13": 26150.05}
        await flush(full_stack, {"NSE_EQ:2885": 1520.0, "IDX_I:13": 26150.05})
        (second,) = await windows_from(channel, count=1)
        assert json.loads(second["prices"]) == {"NSE_EQ:2885": 1520.0}
        assert second["seq"] > first["seq"]
    finally:
        await broadcaster.stop()


@pytest.mark.e2e
async def test_one_leader_at_a_time_and_the_standby_takes_over_without_losing_a_price(
    full_stack, member
):
    channel = member
    first, second = Broadcaster(), Broadcaster()
    first.ensure_running()
    await flush(full_stack, {"NSE_EQ:2885": 1519.0})
    await windows_from(channel, count=1)
    second.ensure_running()  # a second web process: stands by
    for price in (1519.1, 1519.2, 1519.3):
        await flush(full_stack, {"NSE_EQ:2885": price})
        await asyncio.sleep(0.15)
    await asyncio.sleep(0.3)
    assert second.windows_sent == 0 and first.windows_sent >= 2
    await first.stop()  # the leader goes; its lock goes with it
    await drain(channel)
    await flush(full_stack, {"NSE_EQ:1333": 1700.0})  # while nobody leads
    (takeover,) = await windows_from(channel, count=1)
    assert json.loads(takeover["prices"]) == {"NSE_EQ:2885": 1519.3, "NSE_EQ:1333": 1700.0}
    await asyncio.sleep(0.05)  # the sender counts a window once group_send has returned
    assert second.windows_sent >= 1
    await second.stop()


async def test_stop_ends_the_broadcaster_even_when_its_clean_up_fails(settings):
    """A Redis error in a `finally` replaces the CancelledError; the retry loop must not
    take it for an outage (it once kept daphne from shutting down)."""
    settings.REDIS_URL = ""  # embedded: the process leads at once, and no Redis is asked

    class CleanUpFails(Broadcaster):
        async def _lead(self, lease: AsyncLease) -> None:
            try:
                await asyncio.sleep(3600)
            finally:
                raise redis.ConnectionError("clean-up failed")

    broadcaster = CleanUpFails()
    broadcaster.ensure_running()
    await asyncio.sleep(0.05)
    task = broadcaster._task
    await asyncio.wait_for(broadcaster.stop(), 5)
    assert task.done()


async def test_a_connect_storm_reads_the_feed_status_once():
    reads = []

    def status() -> str:
        reads.append(1)
        return "live"

    broadcaster = Broadcaster(status=status)
    assert (
        await asyncio.gather(*(broadcaster.current_status() for _ in range(200))) == ["live"] * 200
    )
    assert len(reads) == 1  # one read shared by the 200, then fresh for a while
    assert await broadcaster.current_status() == "live" and len(reads) == 1


@pytest.mark.e2e
async def test_a_status_change_read_for_a_new_client_still_reaches_every_client(full_stack, member):
    feed = {"status": "live"}
    broadcaster = Broadcaster(status=lambda: feed["status"])
    broadcaster.ensure_running()
    try:
        await flush(full_stack, {"NSE_EQ:2885": 1519.0})
        (first,) = await windows_from(member, count=1)
        assert first["status"] == "live"
        await drain(member)
        feed["status"] = "stale"  # the feed stops: no price changes from here on
        broadcaster._status_at = 0.0  # the last read is old: a connect reads it again
        assert await broadcaster.current_status() == "stale"
        layer = get_channel_layer()
        async with asyncio.timeout(5):
            window = await layer.receive(member)  # no prices changed; the status did
        assert window["status"] == "stale" and json.loads(window["prices"]) == {}
    finally:
        await broadcaster.stop()
