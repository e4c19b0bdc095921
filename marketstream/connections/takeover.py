"""`TakeoverWatcher`: every worker looks for streams that another worker should run and runs
nowhere (`control.orphans`: a live row whose key lock lapsed, or a row a stopping worker
handed over) and starts them here. The lock decides which worker wins; the others find the
key busy. It looks as it starts (a deploy's handed-over streams), every few seconds, and at
once when a stopping worker announces a hand-over (`handover.py`). A worker killed with
SIGKILL costs its streams at most the lock's TTL plus one look plus a connect; a graceful
stop, the hand-over plus a connect.
"""

from __future__ import annotations

import logging
import random
import threading
import time

from django.db import DatabaseError, close_old_connections

from marketstream.connections.control import orphans
from marketstream.connections.handover import HandoverListener
from marketstream.connections.registry import ConnectionRegistry, StreamStartError

logger = logging.getLogger(__name__)

POLL_SECONDS = 2.0  # jittered, so that workers do not all look at once
LISTEN_SECONDS = 0.25  # the longest a wait for a hand-over holds a stop back
STOP_TIMEOUT_SECONDS = 10.0


class TakeoverWatcher:
    """One per worker, owned by its runtime (`WorkerRuntime`), which starts and stops it."""

    def __init__(self, registry: ConnectionRegistry) -> None:
        self._registry = registry
        self._listener = HandoverListener()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream-takeover", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Stop looking (safe in a signal handler: never waits)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT_SECONDS)

    def _run(self) -> None:
        """The watcher's thread: a look now, then one per poll or hand-over heard."""
        next_look = time.monotonic()
        try:
            while not self._stop.is_set():
                wait = next_look - time.monotonic()
                if wait > 0 and not self._listener.heard(
                    min(wait, LISTEN_SECONDS), stop=self._stop
                ):
                    continue  # nothing announced: listen on until the next look is due
                if self._stop.is_set():
                    return
                self._look()
                next_look = time.monotonic() + POLL_SECONDS * random.uniform(0.75, 1.25)
        finally:
            self._listener.close()

    def _look(self) -> None:
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
                logger.warning("took over stream %s: its worker is gone or stopping", key)
                taken.append(key)
        return taken
