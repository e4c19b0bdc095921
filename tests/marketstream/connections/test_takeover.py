"""A dead worker's streams: its key lock lapses, every worker's takeover watcher sees a live
row without a lock, one of them starts it; status and health show such a row as
`worker_gone`, not `running`. (The SIGKILL of a real worker is in tests/chaos.)"""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from marketstream.connections import locks
from marketstream.connections.control import orphans, supervise
from marketstream.connections.health import stream_rows
from marketstream.connections.liveness import WORKER_GONE, is_alive, locked_keys
from marketstream.connections.takeover import TakeoverWatcher
from marketstream.models import Stream

pytestmark = pytest.mark.django_db(transaction=True)
KEY = "type:swing"


@pytest.fixture
def full_stack(settings, redis_url):
    settings.DEV_MODE = True
    settings.REDIS_URL = redis_url
    return redis_url


def live_row(**fields) -> Stream:
    defaults = dict(
        key=KEY,
        screener_type="swing",
        state=Stream.State.RUNNING,
        desired_state=Stream.Desired.RUNNING,
        last_heartbeat=timezone.now(),  # fresh: the heartbeat alone would say alive
        worker_host="gone-host",
        worker_pid=4242,
    )
    return Stream.objects.create(**{**defaults, **fields})


def hold_lock(redis_server, key: str) -> None:
    name = locks.KEY_LOCK_PREFIX + locks.digest(key)
    redis_server.client().set(name, "token", px=locks.LOCK_TTL_SECONDS * 1000)


def test_a_live_row_without_its_lock_is_an_orphan_and_shown_as_worker_gone(
    full_stack, redis_server
):
    stream = live_row()
    assert orphans() == [KEY]
    assert not is_alive(stream)
    out = StringIO()
    call_command("stream_status", "--json", stdout=out)
    assert json.loads(out.getvalue())[0]["state"] == WORKER_GONE
    assert stream_rows(now=timezone.now())[0].state == WORKER_GONE

    hold_lock(redis_server, KEY)  # a worker runs it
    assert orphans() == []
    assert is_alive(stream) and locked_keys([KEY, "other"]) == {KEY}
    assert stream_rows(now=timezone.now())[0].state == Stream.State.RUNNING


def test_stopped_wanted_elsewhere_or_on_demand_rows_are_no_orphans(full_stack):
    live_row(desired_state=Stream.Desired.STOPPED)
    live_row(key="type:longterm", screener_type="longterm", state=Stream.State.STOPPED)
    live_row(key="depth20", kind="depth", screener_type="")
    assert orphans() == []


def test_supervision_queues_a_start_for_an_orphan_despite_its_fresh_heartbeat(
    full_stack, monkeypatch
):
    live_row()
    queued = []
    monkeypatch.setattr(
        "marketstream.connections.control.enqueue_start", lambda key: queued.append(key) or True
    )
    assert supervise() == [KEY] and queued == [KEY]


def test_the_watcher_starts_orphans_in_its_own_registry(full_stack):
    live_row()

    class Registry:
        started: list[str] = []

        def thread(self, key):
            return None

        def start(self, key):
            self.started.append(key)
            return type("Outcome", (), {"started": True})()

    registry = Registry()
    assert TakeoverWatcher(registry).tick() == [KEY]
    assert registry.started == [KEY]


def test_embedded_mode_judges_by_heartbeat(settings):
    settings.REDIS_URL = ""
    stream = live_row()
    assert locked_keys([KEY]) is None and orphans() == []
    assert is_alive(stream)
    Stream.objects.filter(key=KEY).update(last_heartbeat=timezone.now() - timedelta(hours=1))
    stream.refresh_from_db()
    assert not is_alive(stream)
