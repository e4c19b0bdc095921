"""The one way tests wait for something: poll a predicate until it returns something
true, or fail naming what never happened. `wait_until` for plain tests (and, with its
`pause`, the browser's `until` in tests/support/browser.py), `wait_until_async` for
coroutines (its predicate in a thread when it blocks: HTTP, a command)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
WAIT_SECONDS = 15.0
POLL_SECONDS = 0.02
ASYNC_POLL_SECONDS = 0.1


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float = WAIT_SECONDS,
    what: str = "condition",
    interval: float = POLL_SECONDS,
    pause: Callable[[float], object] = time.sleep,
) -> T:
    """Poll `predicate` every `interval` seconds (sleeping with `pause`) until it returns
    something true, and return that; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        pause(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def wait_until_async(
    predicate: Callable[[], T],
    *,
    timeout: float = WAIT_SECONDS,
    what: str = "condition",
    interval: float = ASYNC_POLL_SECONDS,
    in_thread: bool = False,
) -> T:
    """`wait_until` for a coroutine: the loop runs between polls. `in_thread`: the
    predicate blocks (HTTP, a command), so it runs in a thread."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(predicate) if in_thread else predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
