"""The market stream's health: what `/api/v1/health/market_stream` returns and what the
broadcaster tells clients in `status` messages.

`prices` is the base layer: the streams' rows come from the layer that runs them, passed
in as `StreamHealth` values by whoever asks (the project's URLconf gives the view a
`StreamRows` function; the runtime gives the broadcaster one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import redis

from prices import calendar
from prices.cache import HEARTBEAT_TTL_SECONDS, price_store
from prices.redisconn import fail_fast

STALE_HEARTBEAT_SECONDS = HEARTBEAT_TTL_SECONDS
STALE_TICK_SECONDS = 30  # no tick for this long while the market is open: stale
LIVE_STREAM_STATES = frozenset({"starting", "running", "reconnecting"})
# A live row whose worker stopped renewing its lock (marketstream.connections.liveness):
# nobody serves the stream until another worker takes it over.
WORKER_GONE_STATE = "worker_gone"


@dataclass(frozen=True, slots=True)
class StreamHealth:
    """One upstream connection as health reports it."""

    key: str
    kind: str
    state: str
    desired_state: str
    instruments: int
    ticks_received: int
    reconnects: int
    malformed_frames: int
    heartbeat_age_seconds: float | None
    last_tick_age_seconds: float | None
    last_error: str
    stopped_reason: str

    def as_json(self) -> dict:
        return asdict(self)


StreamRows = Callable[..., list[StreamHealth]]  # called as rows(now=<aware datetime>)


@dataclass(frozen=True, slots=True)
class Health:
    status: str  # healthy, stale, not_running, error
    heartbeat_age_seconds: float | None
    heartbeat_timestamp: str | None
    timestamp: str
    market_open: bool
    streams: list[StreamHealth]
    error: str | None = None  # why the status is `error`, when nothing else says
    calendar_warning: str | None = None

    @property
    def feed(self) -> str:
        """The `status` message's word for clients: live, stale, market_closed, not_running."""
        if not self.market_open:
            return "market_closed"
        return {"healthy": "live", "stale": "stale"}.get(self.status, "not_running")

    def as_json(self) -> dict:
        return {
            "status": self.status,
            "heartbeat_age_seconds": self.heartbeat_age_seconds,
            "heartbeat_timestamp": self.heartbeat_timestamp,
            "timestamp": self.timestamp,
            "market_open": self.market_open,
            "streams": [s.as_json() for s in self.streams],
            "error": self.error,
            "calendar_warning": self.calendar_warning,
        }


def _age(moment: str | None, now: datetime) -> float | None:
    if not moment:
        return None
    try:
        return round((now - datetime.fromisoformat(moment)).total_seconds(), 1)
    except (TypeError, ValueError):
        return None


def market_health(*, rows: StreamRows, now: datetime | None = None) -> Health:
    """Healthy, stale (heartbeat older than 60 s, or no tick for 30 s while the market is
    open), not_running (no live stream, no heartbeat), or error (a stream failed or lost its
    worker, or the price cache is unreachable: `error` says which). Called by the health
    view and the broadcaster; its Redis reads fail fast, so a Redis that does not answer
    costs it one socket timeout at most."""
    now = now or datetime.now(UTC)
    with fail_fast():
        streams = rows(now=now)  # locks unreadable: the rows fall back on their heartbeats
        market_open = calendar.market_is_open()
        warning = calendar.coverage_warning(now)
        try:
            beat = price_store().last_heartbeat()
        except redis.RedisError as exc:
            unreachable = f"price cache unreachable: {exc}"
            return Health(
                "error", None, None, now.isoformat(), market_open, streams, unreachable, warning
            )
    beat_age = _age(beat, now)
    status, error = _status(streams, beat_age=beat_age, market_open=market_open)
    return Health(status, beat_age, beat, now.isoformat(), market_open, streams, error, warning)


def _status(
    streams: list[StreamHealth], *, beat_age: float | None, market_open: bool
) -> tuple[str, str | None]:
    """(status, why it is `error`)."""
    live = [s for s in streams if s.state in LIVE_STREAM_STATES]
    tick_ages = [s.last_tick_age_seconds for s in live if s.last_tick_age_seconds is not None]
    beat_stale = beat_age is None or beat_age > STALE_HEARTBEAT_SECONDS
    ticks_stale = market_open and (not tick_ages or min(tick_ages) > STALE_TICK_SECONDS)
    failed = [s.key for s in streams if s.state == "error"]
    if failed:
        return "error", f"streams failed: {', '.join(failed)}"
    gone = [s.key for s in streams if s.state == WORKER_GONE_STATE]
    if gone:  # the heartbeat key stays fresh meanwhile when other streams write it
        return "error", f"worker gone (until another takes over): {', '.join(gone)}"
    if not live and beat_stale:
        return "not_running", None
    if beat_stale or ticks_stale:
        return "stale", None
    return "healthy", None
