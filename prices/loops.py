"""`BackgroundLoop`: the one shape of every background thread a process runs (the embedded
beat, the depth supervisor, the takeover watcher, the alert evaluator): a named thread that
calls `step` until it is stopped, waits what `step` returns between steps, and survives
any one failure. Each is owned by its process's runtime, which starts and stops it.

Subclasses say only what differs: `name`, `step()`, and, if they need them, `pause()` (how
to wait: a listener may wake early) and `teardown()` (what to close as the thread ends).
"""

from __future__ import annotations

import asyncio
import logging
import threading

from django.db import close_old_connections

logger = logging.getLogger(__name__)


class BackgroundLoop:
    name = "background-loop"  # the thread's name, and the loop's name in the logs
    failure_wait_seconds = 1.0  # after a failed step
    stop_timeout_seconds = 10.0

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_failure: str | None = None

    def start(self) -> None:
        """Called once by the runtime as the process starts."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def request_stop(self) -> None:
        """Stop after the current step (never waits: safe in a signal handler)."""
        self.stopping.set()

    def stop(self) -> None:
        """Called by the runtime as the process ends: returns once the thread has ended,
        or after `stop_timeout_seconds` (said in the log)."""
        self.request_stop()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(self.stop_timeout_seconds)
            if thread.is_alive():
                logger.warning(
                    "%s did not stop within %.0f s", self.name, self.stop_timeout_seconds
                )

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def step(self) -> float:
        """One round of the loop's work; returns the seconds to wait before the next."""
        raise NotImplementedError

    def pause(self, seconds: float) -> None:
        """Wait between steps; returns early when the loop is stopped."""
        self.stopping.wait(seconds)

    def teardown(self) -> None:
        """Called on the loop's thread as it ends."""

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                wait = self._guarded_step()
                if not self.stopping.is_set():
                    self.pause(wait)
        finally:
            self.teardown()

    def _guarded_step(self) -> float:
        try:
            wait = self.step()
        except Exception as exc:  # one failed step must never end the loop
            self._log_failure(exc)
            return self.failure_wait_seconds
        else:
            self._last_failure = None
            return wait
        finally:
            close_old_connections()  # a thread's database connection, as a request's

    def _log_failure(self, exc: Exception) -> None:
        """The traceback once per distinct failure, then a line per repeat: a failure that
        repeats every second must not fill the log."""
        what = f"{type(exc).__name__}: {exc}"
        if what == self._last_failure:
            logger.warning("%s failed again (%s); retrying", self.name, what)
        else:
            logger.exception("%s failed; retrying in %.0f s", self.name, self.failure_wait_seconds)
        self._last_failure = what


def raise_if_cancelling(exc: BaseException) -> None:
    """In an asyncio retry loop's `except`: a Redis error raised while the task is being
    cancelled (a clean-up in a `finally` failing) replaces the CancelledError; re-raise the
    cancel so the loop ends instead of retrying forever (it once held daphne's shutdown,
    and a lease's release swallowing it held a test for five minutes)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc
