"""A stop's cancel always ends a lease's `compete`, even when a clean-up swallows it (a
release whose Redis call turns the cancel into its own error, as one did under load and
held a test for five minutes): the loop checks that its task is being cancelled."""

from __future__ import annotations

import asyncio
import contextlib

from prices.leader import AsyncLease


class SwallowingRelease(AsyncLease):
    """Leads at once; its release takes a while and swallows a cancel that lands in it."""

    def __init__(self) -> None:
        self.releasing = asyncio.Event()
        self.leads = 0

    async def try_acquire(self) -> bool:
        return True

    async def renew(self) -> bool:
        return True

    async def release(self) -> None:
        self.releasing.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.2)


async def test_a_cancel_swallowed_by_a_release_still_ends_compete():
    held = SwallowingRelease()

    stopped = False

    async def lead(lease: AsyncLease) -> None:
        if stopped:
            raise RuntimeError("led again after the stop")  # ends a loop that went on
        held.leads += 1

    task = asyncio.create_task(held.compete(lead, retry_seconds=0.01))
    await asyncio.wait_for(held.releasing.wait(), 2)
    task.cancel()  # lands in the release, which swallows it
    stopped = True
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done == {task} and task.cancelled()
    assert held.leads == 1
