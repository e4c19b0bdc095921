"""`TakeoverWatcher`: every worker looks every few seconds for streams whose worker is gone
(a live row whose key lock lapsed: `control.orphans`) and starts them here. The lock decides
which worker wins; the others find the key busy. A worker killed with SIGKILL costs its
streams at most the lock's TTL plus one look plus a connect, with or without beat.
"""

from __future__ import annotations

import logging
import random
import threading

from django.db import DatabaseError, close_old_connections

from marketstream.connections.control import orphans
from marketstream.connections.registry import ConnectionRegistry, StreamStartError

logger = logging.getLogger(__name__)

POLL_SECONDS = 2.0  # jittered, so that workers do not all look at once
STOP_TIMEOUT_SECONDS = 10.0


class TakeoverWatcher:
    def __init__(self, registry: ConnectionRegistry) -> None:
        self._registry = registry
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream-takeover", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT_SECONDS)

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS * random.uniform(0.75, 1.25)):
            try:
                self.tick()
            except DatabaseError as exc:
                logger.warning("takeover: cannot read streams: %s", exc)
            except Exception:  # one failed look must not end the watching
                logger.exception("takeover tick failed")

    def tick(self) -> list[str]:
        """Start here every orphaned stream; returns the keys this worker took over."""
        close_old_connections()
        taken = []
        for key in orphans():
            if self._stop.is_set() or self._registry.thread(key) is not None:
                continue
            try:
                outcome = self._registry.start(key)
            except StreamStartError as exc:
                logger.warning("takeover of %s refused: %s", key, exc)
                continue
            if outcome.started:
                logger.warning("took over stream %s: its worker is gone", key)
                taken.append(key)
        return taken
