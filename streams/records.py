"""The one writer of what a connection is doing (`Stream.state` and its companions): the
registry as it starts one, the connection thread as it runs and ends, the start task when
a start is refused, and embedded mode's clean-up of rows a dead process left live. A
worker that stops gracefully leaves its rows `handed_over` for another worker.
Operators' wishes (`desired_state`, `generation`) are `control.py`'s, with one exception
made here: a connection that failed for good (bad credentials, a refused request) is
marked not wanted, so supervision does not restart what cannot work until someone acts.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Case, Value, When
from django.utils import timezone

from dhan.redact import redact
from streams.models import Stream

LIVE_STATES = (Stream.State.STARTING, Stream.State.RUNNING, Stream.State.RECONNECTING)
ERROR_TEXT_MAX_CHARS = 2000


def clean_error(error: str, *, secrets: tuple[str, ...] = ()) -> str:
    """What may be stored and shown (admin, status, health): never a token."""
    return redact(error, secrets=(settings.DHANHQ_ACCESS_TOKEN, *secrets))[:ERROR_TEXT_MAX_CHARS]


def _update(key: str, **fields: object) -> None:
    Stream.objects.filter(key=key).update(**fields, updated_at=timezone.now())


def _handed_over_if_wanted() -> Case:
    return Case(
        When(desired_state=Stream.Desired.RUNNING, then=Value(Stream.State.HANDED_OVER)),
        default=Value(Stream.State.STOPPED),
    )


def record_refused(key: str, error: str) -> None:
    """A start that cannot succeed as asked: shown on the row until a start succeeds."""
    _update(key, state=Stream.State.ERROR, last_error=clean_error(error))


def record_market_closed(key: str) -> None:
    _update(key, state=Stream.State.MARKET_CLOSED)


def end_leftovers(*, reason: str) -> int:
    """Embedded mode, as the web process starts: it hosts every connection and runs none
    yet, so a row the database calls live was left so by a process that died without
    recording its end. Ending them now lets supervision start them at once, not once their
    heartbeat is stale. Returns how many."""
    return Stream.objects.filter(state__in=LIVE_STATES).update(
        state=Stream.State.STOPPED,
        stopped_reason=reason[:200],
        worker_pid=None,
        updated_at=timezone.now(),
    )


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """A running connection's row, written from its bookkeeping thread."""

    key: str
    secrets: tuple[str, ...] = ()

    def starting(self, *, instruments: list[str]) -> None:
        now = timezone.now()
        _update(
            self.key,
            state=Stream.State.STARTING,
            worker_host=socket.gethostname(),
            worker_pid=os.getpid(),
            started_at=now,
            last_heartbeat=now,
            stopped_reason="",
            instruments=instruments,
        )

    def running(self, *, reconnects: int) -> None:
        _update(self.key, state=Stream.State.RUNNING, reconnects=reconnects, last_error="")

    def reconnecting(self, error: str) -> None:
        _update(
            self.key,
            state=Stream.State.RECONNECTING,
            last_error=clean_error(error, secrets=self.secrets),
        )

    def heartbeat(self, *, items: int, malformed: int, ticked: bool) -> None:
        now = timezone.now()
        fields: dict[str, object] = {
            "last_heartbeat": now,
            "ticks_received": items,
            "malformed_frames": malformed,
        }
        if ticked:
            fields["last_tick_at"] = now
        _update(self.key, **fields)

    def wanted(self) -> tuple[str | None, int | None]:
        """(desired state, generation) as operators last set them; (None, None) if deleted."""
        row = Stream.objects.filter(key=self.key).values_list("desired_state", "generation")
        return row.first() or (None, None)

    def ended(self, *, state: str, reason: str, error: str, counts: dict[str, int]) -> None:
        """The connection's end, written while it still holds its lock (so never over a
        successor's start). `handed_over` holds only for a stream still wanted: an
        operator's stop that raced the hand-over stays a stop, and nobody takes it over."""
        fields: dict[str, object] = {
            "state": _handed_over_if_wanted() if state == Stream.State.HANDED_OVER else state,
            "stopped_reason": reason[:200],
            "worker_pid": None,
            **counts,
        }
        if error:
            fields["last_error"] = clean_error(error, secrets=self.secrets)
            if state == Stream.State.ERROR:
                fields["desired_state"] = Stream.Desired.STOPPED
        _update(self.key, **fields)
