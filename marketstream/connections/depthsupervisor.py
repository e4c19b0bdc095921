"""`DepthSupervisor`: the thread that opens the deployment's depth socket when someone
starts watching depth. One per process that hosts connections (every Celery worker;
the web process in embedded mode), owned by its runtime; the registry's Redis lock lets
one of them run it. The connection closes itself when its watchers are gone
(`depth.DepthKind.control`).
"""

from __future__ import annotations

import logging
import threading

from django.db import DatabaseError, close_old_connections

from marketstream.connections.depth import DEPTH_STREAM_KEY, depth_keys
from marketstream.connections.kinds import DEPTH_KIND
from marketstream.connections.registry import ConnectionRegistry, StreamStartError
from marketstream.models import Stream
from prices.calendar import market_is_open
from prices.depthwatch import DepthInterest

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # a first watcher is served within this plus the connect
BUSY_RETRY_SECONDS = 2.0  # another process runs it
REFUSED_RETRY_SECONDS = 10.0  # no slot in the budget, no credentials, stopped by an operator
STOP_TIMEOUT_SECONDS = 10.0


class DepthSupervisor:
    def __init__(self, registry: ConnectionRegistry, interest: DepthInterest) -> None:
        self._registry = registry
        self._interest = interest
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="depth-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT_SECONDS)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.tick()
            except Exception:  # one failed tick must not end supervision
                logger.exception("depth supervision tick failed")
                wait = REFUSED_RETRY_SECONDS
            self._stop.wait(wait)

    def tick(self) -> float:
        """Start the depth connection here if it is wanted and runs nowhere; returns how
        long to wait before looking again."""
        if self._registry.thread(DEPTH_STREAM_KEY) is not None or not market_is_open():
            return POLL_SECONDS
        if not depth_keys(self._interest.watched()):
            return POLL_SECONDS
        close_old_connections()
        try:
            stream, _ = Stream.objects.get_or_create(
                key=DEPTH_STREAM_KEY, defaults={"kind": DEPTH_KIND, "mode": "depth"}
            )
        except DatabaseError as exc:
            logger.warning("depth: cannot read its stream row: %s", exc)
            return REFUSED_RETRY_SECONDS
        if stream.desired_state != Stream.Desired.RUNNING:
            return REFUSED_RETRY_SECONDS  # an operator stopped it: watchers get 5 levels
        try:
            outcome = self._registry.start(DEPTH_STREAM_KEY)
        except StreamStartError as exc:
            logger.warning("depth socket not opened (watchers get 5 levels): %s", exc)
            return REFUSED_RETRY_SECONDS
        return POLL_SECONDS if outcome.started else BUSY_RETRY_SECONDS
