"""The market stream's health: what `/api/v1/health/market_stream` returns and what the
broadcaster tells clients in `status` messages.

`prices` is the base layer, so the streams' rows come from a provider named in settings
(`STREAM_HEALTH_PROVIDER`, marketstream's), called at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.utils.module_loading import import_string

from prices.cache import HEARTBEAT_TTL_SECONDS, price_store

STALE_HEARTBEAT_SECONDS = HEARTBEAT_TTL_SECONDS
STALE_TICK_SECONDS = 30  # no tick for this long while the market is open: stale
LIVE_STREAM_STATES = frozenset({"starting", "running", "reconnecting"})


@dataclass(frozen=True, slots=True)
class Health:
    status: str  # healthy, stale, not_running, error
    heartbeat_age_seconds: float | None
    heartbeat_timestamp: str | None
    timestamp: str
    market_open: bool
    streams: list[dict]

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
            "streams": self.streams,
        }


def _age(moment: str | None, now: datetime) -> float | None:
    if not moment:
        return None
    try:
        return round((now - datetime.fromisoformat(moment)).total_seconds(), 1)
    except (TypeError, ValueError):
        return None


def market_health(*, now: datetime | None = None) -> Health:
    """Healthy, stale (heartbeat older than 60 s, or no tick for 30 s while the market is
    open), not_running (no live stream, no heartbeat), or error (a stream failed)."""
    now = now or datetime.now(UTC)
    provider = import_string(settings.STREAM_HEALTH_PROVIDER)
    streams: list[dict] = provider(now=now)
    market_open: bool = import_string(settings.MARKET_OPEN_PROVIDER)()
    beat = price_store().last_heartbeat()
    beat_age = _age(beat, now)
    live = [s for s in streams if s["state"] in LIVE_STREAM_STATES]
    tick_ages = [s["last_tick_age_seconds"] for s in live if s["last_tick_age_seconds"] is not None]
    beat_stale = beat_age is None or beat_age > STALE_HEARTBEAT_SECONDS
    ticks_stale = market_open and (not tick_ages or min(tick_ages) > STALE_TICK_SECONDS)
    if any(s["state"] == "error" for s in streams):
        status = "error"
    elif not live and beat_stale:
        status = "not_running"
    elif beat_stale or ticks_stale:
        status = "stale"
    else:
        status = "healthy"
    return Health(status, beat_age, beat, now.isoformat(), market_open, streams)
