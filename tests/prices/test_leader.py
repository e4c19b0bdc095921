"""The leader-election helper against a real redis-server, both faces: of two leases one
wins; a standby takes over within the TTL of a leader that stops renewing, and at once
when the leader releases (a clean stop); a leader whose renewal fails stops leading (and
its release does not free the new holder's lock). Embedded, the one process leads."""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest
import redis

from prices.leader import AsyncLease, Lease, SoleLease, async_lease, lease
from tests.support.waiting import wait_until

NAME = "market_stream:test:job"
TTL_SECONDS = 1.0
LONG_TTL_SECONDS = 5.0  # a clean stop's hand-over must come well before a lease this long lapses
RETRY_SECONDS = 0.05


@pytest.fixture
def shared(settings, redis_url) -> redis.Redis:
    settings.REDIS_URL = redis_url
    return redis.Redis.from_url(redis_url)


def holder(client: redis.Redis) -> str | None:
    value = client.get(NAME)
    return value.decode() if value is not None else None


@pytest.mark.e2e
def test_of_two_leases_one_wins_and_its_lock_names_the_holder(shared):
    first, second = lease(NAME, ttl_seconds=TTL_SECONDS), lease(NAME, ttl_seconds=TTL_SECONDS)
    assert first.try_acquire() is True
    assert second.try_acquire() is False
    host, pid, token = holder(shared).split(":")
    assert (host, int(pid), len(token)) == (socket.gethostname(), os.getpid(), 32)
    assert first.renew() is True and second.renew() is False  # the loser holds nothing


@pytest.mark.e2e
def test_a_leader_that_stops_renewing_is_replaced_within_the_ttl_and_then_stops_leading(shared):
    first, second = lease(NAME, ttl_seconds=TTL_SECONDS), lease(NAME, ttl_seconds=TTL_SECONDS)
    assert first.try_acquire()
    began = time.monotonic()
    wait_until(second.try_acquire, timeout=TTL_SECONDS + 2, what="the standby's lead")
    took = time.monotonic() - began
    assert TTL_SECONDS - 0.1 <= took <= TTL_SECONDS + 1.0  # not before it lapsed, nor long after
    assert first.renew() is False  # its next renewal tells the old leader to stop


@pytest.mark.e2e
def test_a_clean_stop_releases_the_lease_and_a_standby_takes_it_at_once(shared):
    first = lease(NAME, ttl_seconds=LONG_TTL_SECONDS)
    second = lease(NAME, ttl_seconds=LONG_TTL_SECONDS)
    during: list[bool] = []
    assert first.lead_once(lambda held: during.append(second.try_acquire())) is True
    assert during == [False]  # one leader at a time
    assert second.try_acquire() is True  # the lead returned and released: no wait for the TTL


@pytest.mark.e2e
def test_a_lease_whose_renewal_fails_stops_leading_and_leaves_the_new_holders_lock(shared):
    first, second = lease(NAME, ttl_seconds=TTL_SECONDS), lease(NAME, ttl_seconds=TTL_SECONDS)
    renewed: list[bool] = []

    def lead(held: Lease) -> None:
        while held.renew():
            renewed.append(True)
            shared.delete(NAME)  # the lock lapsed (a long pause) ...
            assert second.try_acquire()  # ... and a standby took it

    assert first.lead_once(lead) is True  # the lead returned: it stopped leading
    assert renewed == [True]
    assert second.renew() is True  # first's release left second's lock alone


async def compete(led: list[str], name: str, hang: asyncio.Event | None = None) -> None:
    """A process's job: lead, renewing every RETRY_SECONDS, while it holds the lease (`led`
    records each lead's start and end); `hang`: a leader that never renews until it is set."""

    async def lead(held: AsyncLease) -> None:
        led.append(name)
        try:
            if hang is not None:
                await hang.wait()
                return
            while await held.renew():
                await asyncio.sleep(RETRY_SECONDS)
        finally:
            led.append(f"{name} ended")

    async with async_lease(NAME, ttl_seconds=TTL_SECONDS) as held:
        await held.compete(lead, retry_seconds=RETRY_SECONDS)


async def leads(led: list[str], name: str, *, timeout: float) -> float:
    """Seconds until `name` leads (fails after `timeout`)."""
    began = time.monotonic()
    async with asyncio.timeout(timeout):
        while name not in led:
            await asyncio.sleep(0.01)
    return time.monotonic() - began


async def stopped(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.e2e
async def test_competing_processes_one_leads_and_a_standby_takes_over_at_once_on_a_clean_stop(
    shared,
):
    led: list[str] = []
    first = asyncio.create_task(compete(led, "first"))
    await leads(led, "first", timeout=5)
    second = asyncio.create_task(compete(led, "second"))
    await asyncio.sleep(TTL_SECONDS * 1.5)  # renewed meanwhile: the standby never led
    assert led == ["first"]
    await stopped(first)  # a clean stop releases the lease
    took = await leads(led, "second", timeout=5)
    assert took < TTL_SECONDS  # before the released lock could have lapsed
    await stopped(second)
    assert led == ["first", "first ended", "second", "second ended"]
    assert holder(shared) is None  # the last leader released it too


@pytest.mark.e2e
async def test_a_hung_leader_is_replaced_within_the_ttl_and_then_stands_by(shared):
    led: list[str] = []
    hang = asyncio.Event()
    first = asyncio.create_task(compete(led, "first", hang))
    await leads(led, "first", timeout=5)
    second = asyncio.create_task(compete(led, "second"))
    took = await leads(led, "second", timeout=TTL_SECONDS + 2)
    assert TTL_SECONDS - 0.1 <= took <= TTL_SECONDS + 1.0  # not before it lapsed
    hang.set()  # the old leader wakes, finds its lease gone at its release, stands by
    await asyncio.sleep(TTL_SECONDS)
    assert led == ["first", "second", "first ended"]
    await stopped(first, second)


@pytest.mark.e2e
async def test_an_async_leader_whose_renewal_fails_stops_leading_and_stands_by(shared):
    led: list[str] = []
    first = asyncio.create_task(compete(led, "first"))
    await leads(led, "first", timeout=5)
    shared.set(NAME, "elsewhere:1:x", px=int(LONG_TTL_SECONDS * 1000))  # lapsed, and taken
    await asyncio.sleep(TTL_SECONDS)
    assert led == ["first", "first ended"] and not first.done()  # it stands by
    assert holder(shared) == "elsewhere:1:x"  # and its release left the new holder's lock
    shared.delete(NAME)  # the other leader stops cleanly: it leads again
    async with asyncio.timeout(5):
        while led.count("first") < 2:
            await asyncio.sleep(0.01)
    await stopped(first)


def test_embedded_the_one_process_always_leads(settings):
    settings.REDIS_URL = ""
    held = lease(NAME, ttl_seconds=TTL_SECONDS)
    assert isinstance(held, SoleLease)
    ran: list[bool] = []
    assert held.lead_once(lambda h: ran.append(h.renew())) is True
    assert ran == [True]


async def test_embedded_the_one_process_leads_at_once_on_an_event_loop(settings):
    settings.REDIS_URL = ""
    led: list[str] = []
    task = asyncio.create_task(compete(led, "only"))
    assert await leads(led, "only", timeout=1) < 1
    await stopped(task)
