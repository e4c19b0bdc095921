"""What health concludes from the streams' rows and the heartbeat (`prices.health._status`):
a stream whose worker is gone is never `healthy`, even while the heartbeat is fresh."""

from __future__ import annotations

from prices.health import StreamHealth, _status


def row(key: str, state: str, *, tick_age: float | None = 0.5) -> StreamHealth:
    return StreamHealth(
        key=key,
        kind="market_feed",
        state=state,
        desired_state="running",
        instruments=6,
        ticks_received=100,
        reconnects=0,
        malformed_frames=0,
        heartbeat_age_seconds=1.0,
        last_tick_age_seconds=tick_age,
        last_error="",
        stopped_reason="",
    )


def test_a_stream_whose_worker_is_gone_makes_health_error_naming_it():
    streams = [row("type:swing", "running"), row("type:longterm", "worker_gone")]
    status, reason = _status(streams, beat_age=1.0, market_open=True)
    assert status == "error"
    assert "worker gone" in reason and "type:longterm" in reason and "type:swing" not in reason


def test_the_only_stream_gone_with_its_worker_is_not_healthy_while_the_heartbeat_is_fresh():
    status, reason = _status([row("type:swing", "worker_gone")], beat_age=2.0, market_open=False)
    assert status == "error"
    assert "type:swing" in reason


def test_live_streams_with_fresh_ticks_and_heartbeat_are_healthy():
    assert _status([row("type:swing", "running")], beat_age=1.0, market_open=True) == (
        "healthy",
        None,
    )
