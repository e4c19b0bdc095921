"""`TakeoverWatcher`: every worker looks for streams that another worker should run and runs
nowhere (`supervision.orphans`: a live row whose key lock lapsed, or a row a stopping worker
handed over) and starts them here, through the supervision step. The lock decides which
worker wins; the others find the key busy. It looks as it starts (a deploy's handed-over
streams), every few seconds, and at once when a stopping worker announces a hand-over
(`handover.py`). A worker killed with SIGKILL costs its streams at most the lock's TTL
plus one look plus a connect; a graceful stop, the hand-over plus a connect.
"""

from __future__ import annotations

import logging
import random
import time

from prices.loops import BackgroundLoop
from streams.handover import HandoverListener
from streams.registry import ConnectionRegistry
from streams.supervision import supervise

logger = logging.getLogger(__name__)

POLL_SECONDS = 2.0  # jittered, so that workers do not all look at once
LISTEN_SECONDS = 0.25  # the longest a wait for a hand-over holds a stop back


class TakeoverWatcher(BackgroundLoop):
    """One per worker, owned by its runtime (`WorkerRuntime`), which starts and stops it."""

    name = "stream-takeover"
    failure_wait_seconds = POLL_SECONDS  # a failed look (the database away): the next is due

    def __init__(self, registry: ConnectionRegistry) -> None:
        super().__init__()
        self._registry = registry
        self._listener = HandoverListener()

    def step(self) -> float:
        """A look; the next one after a jittered poll (or a hand-over heard: `pause`)."""
        self.tick()
        return POLL_SECONDS * random.uniform(0.75, 1.25)

    def pause(self, seconds: float) -> None:
        """Listen for hand-overs until the next look is due: one heard ends the wait."""
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self._listener.heard(min(left, LISTEN_SECONDS), stop=self.stopping):
                return

    def teardown(self) -> None:
        self._listener.close()

    def tick(self) -> list[str]:
        """Start here every orphaned stream; returns the keys this worker took over."""
        taken = supervise(registry=self._registry, orphans_only=True).started
        for key in taken:
            logger.warning("took over stream %s: its worker is gone or stopping", key)
        return taken
