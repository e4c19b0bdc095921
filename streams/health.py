"""The streams as operators and health see them: the state shown for each row
(`shown_states`: `stream_status`, the admin) and the health endpoint's and broadcaster's
rows (`stream_rows`, `prices.health.StreamHealth`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from prices.health import StreamHealth
from streams.depth import depth_demanded
from streams.kinds import DEPTH_KIND
from streams.liveness import may_idle, read_locks, shown_state
from streams.models import Stream

# Whether someone needs an on-demand kind now (its stopped row is `idle` otherwise).
DEMAND: dict[str, Callable[[], bool]] = {DEPTH_KIND: depth_demanded}


def _age(now: datetime, moment: datetime | None) -> float | None:
    return round((now - moment).total_seconds(), 1) if moment else None


def shown_states(streams: list[Stream]) -> dict[str, str]:
    """The state shown for each stream, by key: `worker_gone` for a live row whose worker
    stopped renewing its lock, `idle` for an on-demand row nobody needs. One Redis round
    trip for the locks; one more for the watchers, only while an on-demand row may idle."""
    locks = read_locks(s.key for s in streams)
    kinds = {s.kind for s in streams if may_idle(s)}
    demanded = {kind for kind in kinds if DEMAND.get(kind, lambda: False)()}
    return {s.key: shown_state(s, locks, demanded=s.kind in demanded) for s in streams}


def stream_rows(*, now: datetime) -> list[StreamHealth]:
    """One row per stream, for the health endpoint and the broadcaster: one database read
    and the Redis reads of `shown_states`."""
    streams = list(Stream.objects.all())
    states = shown_states(streams)
    return [
        StreamHealth(
            key=s.key,
            kind=s.kind,
            state=states[s.key],
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
