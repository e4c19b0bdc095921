"""The stream commands and the admin: clear errors, and what they change."""

import json

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from prices.instruments import SAMPLE_SCRIP_MASTER
from streams.models import Stream
from tests.support.screens import record_runs

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded(settings):
    settings.REDIS_URL = ""
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER))
    record_runs()


def run(*args, capsys):
    call_command(*args)
    return capsys.readouterr()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--type", "intraday"], "unknown screener type 'intraday'"),
        (["--type", "swing", "--ids", "1,x"], "--ids must be integers"),
        (["--type", "swing", "--ids", "999999"], "unknown instrument ids: [999999]"),
        (["--type", "swing", "--symbols", "NOPE"], "unknown symbols: ['NOPE']"),
        (["--type", "swing", "--keys", "NSE_XX:1"], "unknown segment 'NSE_XX'"),
        (["--type", "swing", "--mode", "depth"], "unknown feed mode 'depth'"),
    ],
)
def test_start_stream_refuses_bad_input_clearly(loaded, settings, args, message):
    settings.DEV_MODE = True
    with pytest.raises(CommandError) as err:
        call_command("start_stream", *args)
    assert message in str(err.value)
    assert Stream.objects.count() == 0


def test_start_stream_with_the_market_closed(loaded, settings, monkeypatch, capsys):
    settings.DEV_MODE = False
    monkeypatch.setattr("prices.calendar.session_is_open", lambda now=None: False)
    with pytest.raises(CommandError, match=r"the market is closed .* nothing started"):
        call_command("start_stream", "--type", "swing")
    assert Stream.objects.count() == 0
    out = run("start_stream", "--type", "swing", "--when-open", capsys=capsys)
    assert out.out.strip() == "type:swing" and "starts at the open" in out.err
    assert Stream.objects.get().desired_state == "running"


def test_start_stop_and_status(loaded, settings, capsys):
    settings.DEV_MODE = True
    out = run("start_stream", "--type", "swing", "--symbols", "TCS,RELIANCE", capsys=capsys)
    key = out.out.strip()
    assert key == "type:swing|symbols:RELIANCE,TCS"
    rows = json.loads(run("stream_status", "--json", capsys=capsys).out)
    assert rows[0]["key"] == key and rows[0]["instruments"] == 2
    assert rows[0]["desired"] == "running"
    table = run("stream_status", capsys=capsys).out.splitlines()
    assert table[0].split("\t")[:3] == ["KEY", "STATE", "DESIRED"]
    assert run("stop_stream", key, capsys=capsys).out.strip() == f"stop requested for {key}"
    assert Stream.objects.get().desired_state == "stopped"
    with pytest.raises(CommandError, match="no stream 'type:nope'"):
        call_command("stop_stream", "type:nope")
    with pytest.raises(CommandError, match="KEY or --all"):
        call_command("stop_stream")
    run("start_stream", "--type", "longterm", capsys=capsys)
    assert "stop requested for 2 streams" in run("stop_stream", "--all", capsys=capsys).out


def test_admin_lists_streams_and_stops_them(loaded, settings, client):
    settings.DEV_MODE = True
    call_command("start_stream", "--type", "swing")
    Stream.objects.update(last_error="DhanHQ disconnected the feed: 805 too many")
    admin = User.objects.create_superuser("admin", "a@example.com", "pw")
    client.force_login(admin)
    page = client.get("/admin/streams/stream/")
    assert page.status_code == 200
    body = page.content.decode()
    for text in ("type:swing", "Stop all streams", "805 too many", "Heartbeat age"):
        assert text in body
    stream = Stream.objects.get()
    response = client.post(
        "/admin/streams/stream/", {"action": "stop_streams", "_selected_action": [stream.pk]}
    )
    assert response.status_code == 302
    assert Stream.objects.get().desired_state == "stopped"
    client.post(
        "/admin/streams/stream/",
        {"action": "restart_streams", "_selected_action": [stream.pk]},
    )
    restarted = Stream.objects.get()
    assert (restarted.desired_state, restarted.generation) == ("running", 1)
    client.post("/admin/streams/stream/stop-all/")
    assert Stream.objects.get().desired_state == "stopped"


def test_admin_start_of_the_depth_socket_only_allows_it(loaded, client):
    depth = Stream.objects.create(key="depth20", kind="depth20", desired_state="stopped")
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    response = client.post(
        "/admin/streams/stream/",
        {"action": "start_streams", "_selected_action": [depth.pk]},
        follow=True,
    )
    assert "it opens while someone watches" in response.content.decode()
    depth.refresh_from_db()
    assert depth.desired_state == "running" and depth.state == "stopped"  # nothing started


def test_opening_a_page_ensures_its_stream_once(loaded, settings):
    from django.utils import timezone

    from streams.control import ensure_stream

    settings.DEV_MODE = True
    settings.DHANHQ_WS_ENABLED = False  # the eager start task fails fast instead of connecting
    assert "start requested" in ensure_stream(screener_type="swing")
    stream = Stream.objects.get(key="type:swing")
    assert stream.desired_state == "running" and stream.state == "error"  # feeds disabled
    Stream.objects.update(state="running", last_heartbeat=timezone.now())
    assert ensure_stream(screener_type="swing") == "already running"
    assert "not started" in ensure_stream(screener_type="intraday")


def test_stream_status_names_the_worker_as_host_and_pid(loaded, capsys):
    Stream.objects.create(
        key="type:swing", state="running", worker_host="worker-7.example", worker_pid=4242
    )
    Stream.objects.create(key="type:longterm", state="handed_over", worker_host="worker-7.example")
    rows = {r["key"]: r for r in json.loads(run("stream_status", "--json", capsys=capsys).out)}
    assert rows["type:swing"]["worker"] == "worker-7.example:4242"
    # A handed-over stream runs nowhere until another worker starts it.
    assert (rows["type:longterm"]["state"], rows["type:longterm"]["worker"]) == ("handed_over", "")
