"""The per-process runtime composes the apps' loops, each a `BackgroundLoop` (named thread,
stopped within its timeout, one failure never ends it): embedded mode's beat runs the
supervision step every few seconds and refreshes portfolios every five minutes; a web
process that hosts connections starts and stops its loops, leaving no thread behind."""

from __future__ import annotations

import threading
from datetime import datetime
from types import SimpleNamespace

import pytest

from marketstream import runtime
from marketstream.runtime import PORTFOLIO_REFRESH_SECONDS, EmbeddedBeat, WebRuntime
from prices.loops import BackgroundLoop
from streams.depthsupervisor import DepthSupervisor
from streams.supervision import Supervised
from streams.takeover import TakeoverWatcher

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_three_stream_loops_are_background_loops_with_names():
    for loop, name in (
        (EmbeddedBeat, "embedded-beat"),
        (DepthSupervisor, "depth-supervisor"),
        (TakeoverWatcher, "stream-takeover"),
    ):
        assert issubclass(loop, BackgroundLoop) and loop.name == name


def test_the_embedded_beat_supervises_every_step_and_refreshes_portfolios_every_5_min(
    monkeypatch,
):
    supervised, refreshed, now = [], [], [1000.0]
    monkeypatch.setattr(runtime, "supervise", lambda: supervised.append(1) or Supervised())
    monkeypatch.setattr(runtime, "refresh_task", lambda: refreshed.append(now[0]))
    beat = EmbeddedBeat(interval_seconds=5.0, clock=lambda: now[0])
    for _ in range(3):
        assert beat.step() == 5.0
        now[0] += 100.0
    now[0] += PORTFOLIO_REFRESH_SECONDS
    beat.step()
    assert len(supervised) == 4 and refreshed == [
        1000.0,
        1000.0 + 300.0 + PORTFOLIO_REFRESH_SECONDS,
    ]


def test_the_embedded_beat_runs_due_screens_each_minute_and_after_close_jobs_once_a_day(
    monkeypatch,
):
    queued, now = [], [1000.0]
    ist = [datetime(2026, 12, 7, 15, 39, tzinfo=runtime.IST)]
    monkeypatch.setattr(runtime, "supervise", Supervised)
    monkeypatch.setattr(runtime, "refresh_task", lambda: None)

    class Tasks(dict):
        def __missing__(self, name):
            return SimpleNamespace(delay=lambda: queued.append(name))

    monkeypatch.setattr(runtime, "current_app", SimpleNamespace(tasks=Tasks()))
    beat = EmbeddedBeat(interval_seconds=5.0, clock=lambda: now[0], now_ist=lambda: ist[0])
    for minute in (39, 40, 40, 45, 50, 59, 60):  # 15:39 .. 16:00
        ist[0] = ist[0].replace(hour=15 + minute // 60, minute=minute % 60)
        beat.step()
        now[0] += 30.0
    assert queued.count("screeners.run_due") == 4  # one a minute of clock (30 s a step)
    assert [q for q in queued if q.endswith("after_close")] == [
        "history.after_close",
        "screeners.after_close",
    ]


def test_a_failing_supervision_step_never_ends_the_embedded_beat(monkeypatch):
    steps = threading.Semaphore(0)

    def fail() -> Supervised:
        steps.release()
        raise RuntimeError("the database is away")

    monkeypatch.setattr(runtime, "supervise", fail)
    monkeypatch.setattr(EmbeddedBeat, "failure_wait_seconds", 0.01)
    beat = EmbeddedBeat()
    beat.start()
    try:
        assert all(steps.acquire(timeout=5) for _ in range(3))  # it failed, and went on
        assert beat.is_alive()
    finally:
        beat.stop()
    assert not beat.is_alive()


def test_an_embedded_web_runtime_starts_and_stops_its_loops(settings, monkeypatch):
    settings.REDIS_URL, settings.DEV_MODE = "", True
    monkeypatch.setattr(runtime, "refresh_task", lambda: None)
    web = WebRuntime(hosts_connections=True)
    web.start()
    names = {t.name for t in threading.enumerate()}
    assert {"embedded-beat", "depth-supervisor"} <= names
    assert web.stop() == 0
    names = {t.name for t in threading.enumerate()}
    assert not {"embedded-beat", "depth-supervisor"} & names
