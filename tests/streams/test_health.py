"""The state operators see: the deployment's depth socket (`depth20`), allowed and stopped,
reads `idle` while nobody watches depth (in `stream_status`, health's rows and the admin),
and `stopped` while someone does (about to open, or refused) or an operator stopped it;
other kinds' stopped rows read `stopped` as before."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from prices.depthwatch import DEPTH_INTEREST_KEY, RedisDepthInterest, depth_interest
from streams.health import stream_rows
from streams.liveness import IDLE
from streams.models import Stream

pytestmark = pytest.mark.django_db(transaction=True)
DEPTH = "depth20"


@pytest.fixture
def rows():
    """The depth socket's row as its supervisor makes it, and a stopped market feed."""
    Stream.objects.create(key=DEPTH, kind=DEPTH, mode="depth", stopped_reason="no depth watchers")
    Stream.objects.create(key="type:swing", screener_type="swing")


def shown() -> dict[str, dict[str, str]]:
    """Each row's state as `stream_status --json`, health and the admin list show it."""
    out = StringIO()
    call_command("stream_status", "--json", stdout=out)
    status = {r["key"]: r["state"] for r in json.loads(out.getvalue())}
    health = {r.key: r.state for r in stream_rows(now=timezone.now())}
    return {"status": status, "health": health}


def admin_page(client) -> str:
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw"))
    return client.get("/admin/streams/stream/").content.decode()


def test_the_depth_socket_nobody_watches_reads_idle_in_embedded_mode(settings, rows, client):
    settings.REDIS_URL = ""
    assert shown() == {
        "status": {DEPTH: IDLE, "type:swing": "stopped"},
        "health": {DEPTH: IDLE, "type:swing": "stopped"},
    }
    assert '<td class="field-shown_state">idle</td>' in admin_page(client)


@pytest.mark.e2e
def test_the_depth_socket_reads_stopped_while_someone_watches_and_idle_after(
    settings, redis_server, rows
):
    settings.REDIS_URL = redis_server.url
    redis_server.client().delete(DEPTH_INTEREST_KEY)  # no other test's watchers
    interest = depth_interest()
    assert isinstance(interest, RedisDepthInterest)
    assert shown()["status"][DEPTH] == IDLE and shown()["health"][DEPTH] == IDLE
    interest.mark("web-1", ["NSE_EQ:2885"])  # a watcher: its supervisor is opening it
    assert shown()["status"][DEPTH] == "stopped" and shown()["health"][DEPTH] == "stopped"
    interest.mark("web-1", ["IDX_I:13"])  # an index: no 20-level depth for it, so no demand
    assert shown()["status"][DEPTH] == IDLE
    interest.mark("web-1", [])
    assert shown()["health"][DEPTH] == IDLE


def test_an_operators_stop_and_other_states_of_the_depth_row_read_as_they_are(settings, rows):
    settings.REDIS_URL = ""
    Stream.objects.filter(key=DEPTH).update(desired_state="stopped")
    assert shown()["status"][DEPTH] == "stopped"
    Stream.objects.filter(key=DEPTH).update(desired_state="running", state="market_closed")
    assert shown()["status"][DEPTH] == "market_closed"
    Stream.objects.filter(key=DEPTH).update(state="running", last_heartbeat=timezone.now())
    assert shown()["health"][DEPTH] == "running"
