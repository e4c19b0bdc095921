"""Leader election: of every process that runs a job meant to run once per deployment (the
broadcaster's windows, `prices.broadcast`; the alert evaluator, `alerts.service`), the one
holding the job's lease does it. With Redis a lease is a lock whose value is the holder's
`host:pid:uuid`, held for a TTL that the leader renews while it works; a standby tries
again every STANDBY_RETRY_SECONDS, so it leads within the TTL of a leader's death, and
within a retry of a leader's clean stop (which releases the lock). Embedded mode's one
process always leads. Two faces: `Lease` for a thread, `AsyncLease` for an event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import redis
import redis.asyncio as aioredis
from redis.exceptions import LockError

from prices.deployment import current
from prices.loops import raise_if_cancelling

STANDBY_RETRY_SECONDS = 0.5


def lease_token() -> str:
    """Who holds a lease, as stored in its lock: `host:pid:uuid` (new for every attempt)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


class Lease:
    """A job's lease, for a thread. `lead_once` is a standby's turn: called again and
    again (by a `prices.loops.BackgroundLoop`'s step) until it leads."""

    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; never waits."""
        raise NotImplementedError

    def renew(self) -> bool:
        """Called by the leader well within the TTL: False once the lease is lost (it
        lapsed and another took it), and the leader must stop."""
        raise NotImplementedError

    def release(self) -> None:
        """Give the lease up at once (a clean stop: a standby leads at its next try)."""

    def lead_once(self, lead: Callable[[Lease], None]) -> bool:
        """If the lease is free: `lead(self)` until it returns (lost, stopping), then the
        lease is released. Returns whether this process led."""
        if not self.try_acquire():
            return False
        try:
            lead(self)
        finally:
            self.release()
        return True


class RedisLease(Lease):
    def __init__(self, client: redis.Redis, name: str, *, ttl_seconds: float) -> None:
        self._lock = client.lock(name, timeout=ttl_seconds)

    def try_acquire(self) -> bool:
        return bool(self._lock.acquire(blocking=False, token=lease_token()))

    def renew(self) -> bool:
        try:
            return bool(self._lock.reacquire())
        except LockError:  # no longer ours (a Redis error is not an answer: it propagates)
            return False

    def release(self) -> None:
        with contextlib.suppress(LockError, redis.RedisError):  # else it lapses on its own
            self._lock.release()


class SoleLease(Lease):
    """Embedded mode: the process is the deployment, and leads."""

    def try_acquire(self) -> bool:
        return True

    def renew(self) -> bool:
        return True


def lease(name: str, *, ttl_seconds: float) -> Lease:
    """The lease of job `name` in this deployment (a new handle each call)."""
    return current().choose(
        embedded=SoleLease, shared=lambda client: RedisLease(client, name, ttl_seconds=ttl_seconds)
    )


class AsyncLease:
    """A job's lease, for an event loop: `compete` stands by and leads until cancelled."""

    async def try_acquire(self) -> bool:
        raise NotImplementedError

    async def renew(self) -> bool:
        """As `Lease.renew`."""
        raise NotImplementedError

    async def release(self) -> None:
        """As `Lease.release`."""

    async def aclose(self) -> None:
        """Called by `async_lease` as its owner is done with it."""

    async def lead_once(self, lead: Callable[[AsyncLease], Awaitable[None]]) -> bool:
        """As `Lease.lead_once`; a cancel while leading releases the lease too."""
        if not await self.try_acquire():
            return False
        try:
            await lead(self)
        finally:
            await self.release()
        return True

    async def compete(
        self,
        lead: Callable[[AsyncLease], Awaitable[None]],
        *,
        retry_seconds: float = STANDBY_RETRY_SECONDS,
    ) -> None:
        """Lead whenever the lease is free, stand by otherwise; ends only by cancel or by
        an error (a Redis error included: the owner's loop retries)."""
        while True:
            await self.lead_once(lead)
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # a cancel an await let slip
                raise asyncio.CancelledError
            await asyncio.sleep(retry_seconds)


class AsyncRedisLease(AsyncLease):
    """Owns its asyncio client (one per event loop)."""

    def __init__(self, client: aioredis.Redis, name: str, *, ttl_seconds: float) -> None:
        self._client = client
        self._lock = client.lock(name, timeout=ttl_seconds)

    async def try_acquire(self) -> bool:
        return bool(await self._lock.acquire(blocking=False, token=lease_token()))

    async def renew(self) -> bool:
        try:
            return bool(await self._lock.reacquire())
        except LockError:
            return False

    async def release(self) -> None:
        try:
            await self._lock.release()
        except (LockError, redis.RedisError) as exc:  # gone already: nothing to free
            raise_if_cancelling(exc)  # but a stop's cancel is never swallowed here

    async def aclose(self) -> None:
        await self._client.aclose()


class AsyncSoleLease(AsyncLease):
    async def try_acquire(self) -> bool:
        return True

    async def renew(self) -> bool:
        return True


@contextlib.asynccontextmanager
async def async_lease(name: str, *, ttl_seconds: float) -> AsyncIterator[AsyncLease]:
    """The lease of job `name` for the running event loop, closed as the block ends."""
    held = current().choose_async(
        embedded=AsyncSoleLease,
        shared=lambda client: AsyncRedisLease(client, name, ttl_seconds=ttl_seconds),
    )
    try:
        yield held
    finally:
        await held.aclose()
