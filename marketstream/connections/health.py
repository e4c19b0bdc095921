"""The streams as health and status report them (`prices.health.StreamHealth` rows)."""

from __future__ import annotations

from datetime import datetime

from marketstream.connections.liveness import read_locks, shown_state
from marketstream.models import Stream
from prices.health import StreamHealth


def _age(now: datetime, moment: datetime | None) -> float | None:
    return round((now - moment).total_seconds(), 1) if moment else None


def stream_rows(*, now: datetime) -> list[StreamHealth]:
    """One row per stream, for the health endpoint and the broadcaster: one database read
    and one Redis round trip (`worker_gone` for a live row whose worker stopped renewing)."""
    streams = list(Stream.objects.all())
    locks = read_locks(s.key for s in streams)
    return [
        StreamHealth(
            key=s.key,
            kind=s.kind,
            state=shown_state(s, locks),
            desired_state=s.desired_state,
            instruments=s.instrument_count,
            ticks_received=s.ticks_received,
            reconnects=s.reconnects,
            malformed_frames=s.malformed_frames,
            heartbeat_age_seconds=_age(now, s.last_heartbeat),
            last_tick_age_seconds=_age(now, s.last_tick_at),
            last_error=s.last_error,
            stopped_reason=s.stopped_reason,
        )
        for s in streams
    ]
