"""`AlertService`: the deployment's one active evaluator, a `BackgroundLoop` on a process
that hosts connections (every Celery worker; the web process in embedded mode), owned by
its runtime. The processes elect a leader (`prices.leader`, as the broadcaster does); the
leader reads the price batches (`prices.batches`: Redis pub/sub, or embedded, the process's
price store), and a standby takes over within seconds of the leader's end.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from alerts.evaluator import Evaluator
from alerts.models import Alert
from alerts.notify import notify
from prices.batches import price_batches
from prices.cache import LIVE_UPDATES_CHANNEL, LocalPriceStore
from prices.calendar import IST
from prices.leader import STANDBY_RETRY_SECONDS, Lease, lease
from prices.loops import BackgroundLoop

logger = logging.getLogger(__name__)

LEADER_KEY = "market_stream:alerts:evaluator"
LEADER_TTL_SECONDS = 5.0  # renewed every REFRESH_SECONDS: a dead leader's lapses after this
REFRESH_SECONDS = 1.0  # new, changed and expired alerts are seen within this
BATCH_WAIT_SECONDS = 0.2  # how long the leader waits for a batch before its refresh check


def prices_of(message: bytes | str) -> dict[str, float]:
    """A batch's prices, for the evaluator: a non-finite one (NaN, infinity: a corrupt
    feed value) can be neither judged nor stored, and is left out."""
    try:
        batch = json.loads(message)
        prices = {str(k): float(v) for k, v in batch["prices"].items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        logger.warning("alerts: ignored a malformed %s message", LIVE_UPDATES_CHANNEL)
        return {}
    return {k: p for k, p in prices.items() if math.isfinite(p)}


class AlertService(BackgroundLoop):
    """`local_store`: embedded mode's price store, whose writes the evaluator reads."""

    name = "alert-evaluator"

    def __init__(self, *, local_store: LocalPriceStore | None = None) -> None:
        super().__init__()
        self._local_store = local_store
        self.leading = threading.Event()

    def start(self) -> None:
        """Called by the runtime as the process starts: unless this process must not
        evaluate (`MARKETSTREAM_ALERT_EVALUATOR` off)."""
        if settings.MARKETSTREAM_ALERT_EVALUATOR:
            super().start()

    def step(self) -> float:
        """One turn of the loop: lead while this process holds the lease (until it is lost
        or the loop stops), else stand by."""
        lease(LEADER_KEY, ttl_seconds=LEADER_TTL_SECONDS).lead_once(self._lead)
        return STANDBY_RETRY_SECONDS

    def _lead(self, held: Lease) -> None:
        # Subscribed before the catch-up (`Evaluator.load`): no batch falls between.
        with price_batches(self._local_store) as batches:
            try:
                evaluator = self._start_leading()
                refreshed_at = time.monotonic()
                while not self.stopping.is_set():
                    message = batches.get(timeout=BATCH_WAIT_SECONDS)
                    if message is not None:
                        evaluator.on_prices(prices_of(message))
                    if time.monotonic() - refreshed_at >= REFRESH_SECONDS:
                        if not held.renew():
                            logger.warning("alert evaluator lost its lead")
                            return
                        self._refresh(evaluator)
                        refreshed_at = time.monotonic()
            finally:
                self.leading.clear()

    def _start_leading(self) -> Evaluator:
        close_old_connections()
        evaluator = Evaluator(notify=notify)
        caught_up = evaluator.load()
        self.leading.set()
        logger.info(
            "alert evaluator leads: %d alerts, %d caught up", len(evaluator.index), len(caught_up)
        )
        return evaluator

    @staticmethod
    def _refresh(evaluator: Evaluator) -> None:
        close_old_connections()
        Alert.objects.filter(status=Alert.Status.ACTIVE, expires_at__lte=timezone.now()).update(
            status=Alert.Status.EXPIRED, updated_at=timezone.now()
        )
        if evaluator.loaded_on != datetime.now(IST).date():
            evaluator.load()  # a new day: change_pct levels from the new previous close
        else:
            evaluator.refresh()
