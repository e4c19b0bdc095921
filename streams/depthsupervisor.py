"""`DepthSupervisor`: the loop that opens the deployment's depth socket when someone starts
watching depth. One per process that hosts connections (every Celery worker; the web
process in embedded mode), owned by its runtime; it asks the supervision step to start the
`depth20` row here, and the registry's Redis lock lets one process run it. The connection
closes itself when its watchers are gone (`depth.DepthKind.control`).
"""

from __future__ import annotations

import logging

from django.db import DatabaseError

from prices.calendar import market_is_open
from prices.depthwatch import DepthInterest
from prices.loops import BackgroundLoop
from streams.depth import DEPTH_STREAM_KEY, depth_keys
from streams.kinds import DEPTH_KIND
from streams.models import Stream
from streams.registry import ConnectionRegistry
from streams.supervision import supervise

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # a first watcher is served within this plus the connect
BUSY_RETRY_SECONDS = 2.0  # another process runs it
REFUSED_RETRY_SECONDS = 10.0  # no slot in the budget, no credentials, stopped by an operator


class DepthSupervisor(BackgroundLoop):
    name = "depth-supervisor"
    failure_wait_seconds = REFUSED_RETRY_SECONDS

    def __init__(self, registry: ConnectionRegistry, interest: DepthInterest) -> None:
        super().__init__()
        self._registry = registry
        self._interest = interest

    def step(self) -> float:
        """Start the depth connection here if it is wanted and runs nowhere; returns how
        long to wait before looking again."""
        if self._registry.thread(DEPTH_STREAM_KEY) is not None or not market_is_open():
            return POLL_SECONDS
        if not depth_keys(self._interest.watched()):
            return POLL_SECONDS  # nobody watches: the row reads `idle` (streams.health)
        try:
            Stream.objects.get_or_create(
                key=DEPTH_STREAM_KEY, defaults={"kind": DEPTH_KIND, "mode": "depth"}
            )
        except DatabaseError as exc:
            logger.warning("depth: cannot read its stream row: %s", exc)
            return REFUSED_RETRY_SECONDS
        done = supervise(registry=self._registry, keys=[DEPTH_STREAM_KEY])
        if done.started:
            return POLL_SECONDS
        if done.busy:
            return BUSY_RETRY_SECONDS
        # Refused (logged by the step: watchers get 5 levels), or stopped by an operator.
        return REFUSED_RETRY_SECONDS
