"""A dead worker's streams: its key lock stops being renewed (status, health and the admin
show `worker_gone` at once), then lapses; every worker's takeover watcher sees a live row
without a lock, one of them starts it. A stopping worker's handed-over rows are taken over
too. (Real workers killed and stopped: test_worker_streams.py and tests/chaos.)"""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from streams import locks
from streams.health import stream_rows
from streams.liveness import (
    RENEWAL_GRACE_SECONDS,
    WORKER_GONE,
    is_alive,
    read_locks,
    shown_state,
)
from streams.models import Stream
from streams.supervision import orphans, supervise
from streams.takeover import TakeoverWatcher

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


def hold_lock(redis_server, key: str, *, unrenewed_for: float = 0.0) -> None:
    """A key lock as its worker left it `unrenewed_for` seconds after its last renewal."""
    name = locks.KEY_LOCK_PREFIX + locks.digest(key)
    ttl_ms = int((locks.LOCK_TTL_SECONDS - unrenewed_for) * 1000)
    redis_server.client().set(name, "token", px=ttl_ms)


def status_state() -> str:
    out = StringIO()
    call_command("stream_status", "--json", stdout=out)
    return json.loads(out.getvalue())[0]["state"]


@pytest.mark.e2e
def test_a_live_row_without_its_lock_is_an_orphan_and_shown_as_worker_gone(
    full_stack, redis_server
):
    stream = live_row()
    assert orphans() == [KEY]
    assert not is_alive(stream)
    assert status_state() == WORKER_GONE
    assert stream_rows(now=timezone.now())[0].state == WORKER_GONE

    hold_lock(redis_server, KEY)  # a worker runs it
    assert orphans() == []
    assert is_alive(stream) and read_locks([KEY, "other"]).held == {KEY}
    assert status_state() == Stream.State.RUNNING
    assert stream_rows(now=timezone.now())[0].state == Stream.State.RUNNING


@pytest.mark.e2e
def test_a_lock_its_worker_stopped_renewing_shows_worker_gone_before_it_lapses(
    full_stack, redis_server, client
):
    """A SIGKILLed worker's lock lives on for its 10 s TTL (the takeover bound), but status,
    health and the admin say `worker_gone` once renewals stop (a second apart)."""
    stream = live_row()
    hold_lock(redis_server, KEY, unrenewed_for=1.5)  # one renewal late: still running
    assert status_state() == Stream.State.RUNNING
    assert stream_rows(now=timezone.now())[0].state == Stream.State.RUNNING

    hold_lock(redis_server, KEY, unrenewed_for=RENEWAL_GRACE_SECONDS + 0.5)
    assert status_state() == WORKER_GONE
    assert stream_rows(now=timezone.now())[0].state == WORKER_GONE
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    page = client.get("/admin/streams/stream/").content.decode()
    assert WORKER_GONE in page and "gone-host:4242" in page
    # Its lock still stands: nobody may start it yet, so it is no orphan and not restarted.
    assert orphans() == [] and is_alive(stream)
    # A takeover's fresh lock: the row is shown as it says again.
    hold_lock(redis_server, KEY)
    assert shown_state(stream, read_locks([KEY])) == Stream.State.RUNNING


@pytest.mark.e2e
def test_a_handed_over_row_is_an_orphan_and_shown_as_handed_over(full_stack):
    stream = live_row(state=Stream.State.HANDED_OVER, worker_pid=None)
    assert orphans() == [KEY] and not is_alive(stream)
    assert status_state() == Stream.State.HANDED_OVER
    Stream.objects.filter(key=KEY).update(desired_state=Stream.Desired.STOPPED)
    assert orphans() == []  # an operator's stop: nobody takes it over


@pytest.mark.e2e
def test_stopped_wanted_elsewhere_or_on_demand_rows_are_no_orphans(full_stack):
    live_row(desired_state=Stream.Desired.STOPPED)
    live_row(key="type:longterm", screener_type="longterm", state=Stream.State.STOPPED)
    live_row(key="depth20", kind="depth", screener_type="")
    assert orphans() == []


@pytest.mark.e2e
def test_supervision_queues_a_start_for_an_orphan_despite_its_fresh_heartbeat(
    full_stack, monkeypatch
):
    live_row()
    queued = []
    monkeypatch.setattr("streams.supervision.enqueue_start", lambda key: queued.append(key) or True)
    assert supervise().started == [KEY] and queued == [KEY]


@pytest.mark.e2e
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
    assert read_locks([KEY]) is None and orphans() == []
    assert is_alive(stream)
    Stream.objects.filter(key=KEY).update(last_heartbeat=timezone.now() - timedelta(hours=1))
    stream.refresh_from_db()
    assert not is_alive(stream)
