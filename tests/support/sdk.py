"""Running DhanHQ's official SDK (`dhanhq`) in a test, the protocol oracle of tests/dhan:
it sets and runs its own event loop, so each call runs on a thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
SDK_CALL_TIMEOUT_SECONDS = 30.0


def in_thread(fn: Callable[[], T]) -> T:
    """`fn()` on a thread of its own (the SDK's loop kept off the test's), its result or
    its exception handed back; fails if it hangs."""
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(SDK_CALL_TIMEOUT_SECONDS)
    assert not thread.is_alive(), "SDK call hung"
    if "error" in box:
        raise box["error"]
    return box["result"]
