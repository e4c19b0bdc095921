"""`AlertService`: the deployment's one active evaluator, on a thread of a process that
hosts connections (every Celery worker; the web process in embedded mode), owned by its
runtime. With Redis the workers elect a leader (a lock, as the broadcaster does); the
leader reads the price batches on `live_ltp_updates`, a standby takes over within seconds
of the leader's end. Embedded mode: the process's price store hands it the batches.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import socket
import threading
import time
import uuid
from datetime import datetime

import redis
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from redis.exceptions import LockError

from alerts.evaluator import Evaluator
from alerts.models import Alert
from alerts.notify import notify
from prices.cache import LIVE_UPDATES_CHANNEL, LocalPriceStore, redis_client
from prices.calendar import IST

logger = logging.getLogger(__name__)

LEADER_KEY = "market_stream:alerts:evaluator"
LEADER_TTL_SECONDS = 5.0
STANDBY_RETRY_SECONDS = 0.5
REFRESH_SECONDS = 1.0  # new, changed and expired alerts are seen within this
STOP_TIMEOUT_SECONDS = 10.0


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


class AlertService:
    def __init__(self, *, local_store: LocalPriceStore | None = None) -> None:
        self._local_store = local_store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-evaluator", daemon=True)
        self._batches: queue.Queue[str] = queue.Queue(maxsize=10_000)
        self.leading = threading.Event()
        self._last_failure = ""  # the last failure that restarted the evaluator

    def start(self) -> None:
        if settings.MARKETSTREAM_ALERT_EVALUATOR:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT_SECONDS)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if settings.REDIS_URL:
                    self._compete()
                else:
                    self._lead_local()
            except Exception as exc:  # the evaluator must outlive any one failure
                self._log_failure(exc)
                self.leading.clear()
                self._stop.wait(1)
            finally:
                close_old_connections()

    def _log_failure(self, exc: Exception) -> None:
        """A failure's traceback once; the same failure again (a database down for a
        minute restarts the evaluator 60 times) a line each time."""
        failure = f"{type(exc).__name__}: {exc}"
        if failure == self._last_failure:
            logger.warning("alert evaluator failed again (%s); restarting it in 1 s", failure)
        else:
            logger.exception("alert evaluator failed; restarting it in 1 s")
        self._last_failure = failure

    def _compete(self) -> None:
        client = redis_client(settings.REDIS_URL)
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        lock = client.lock(LEADER_KEY, timeout=LEADER_TTL_SECONDS)
        while not self._stop.is_set():
            if lock.acquire(blocking=False, token=token):
                try:
                    self._lead_redis(client, lock)
                finally:
                    self.leading.clear()
                    try:
                        lock.release()
                    except (LockError, redis.RedisError):
                        pass
            self._stop.wait(STANDBY_RETRY_SECONDS)

    def _lead_redis(self, client: redis.Redis, lock) -> None:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(LIVE_UPDATES_CHANNEL)  # before the catch-up: nothing falls between
        try:
            evaluator = self._start_leading()
            last_refresh = time.monotonic()
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=0.2)
                if message is not None:
                    evaluator.on_prices(prices_of(message["data"]))
                if time.monotonic() - last_refresh >= REFRESH_SECONDS:
                    if not lock.reacquire():
                        logger.warning("alert evaluator lost its lead")
                        return
                    self._refresh(evaluator)
                    last_refresh = time.monotonic()
        finally:
            pubsub.close()

    def _lead_local(self) -> None:
        listeners = self._local_store.listeners if self._local_store else []

        def listener(message: str) -> None:  # on a feed's writer thread: never blocks
            try:
                self._batches.put_nowait(message)
            except queue.Full:
                logger.warning("alert evaluator behind: a price batch dropped")

        listeners.append(listener)
        try:
            evaluator = self._start_leading()
            last_refresh = time.monotonic()
            while not self._stop.is_set():
                try:
                    evaluator.on_prices(prices_of(self._batches.get(timeout=0.2)))
                except queue.Empty:
                    pass
                if time.monotonic() - last_refresh >= REFRESH_SECONDS:
                    self._refresh(evaluator)
                    last_refresh = time.monotonic()
        finally:
            listeners.remove(listener)

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
