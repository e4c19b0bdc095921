"""Stops are honoured within 2 s in every state of a connection, connecting included, and
an operator's stop stays a stop: page views neither override it nor pile up starts."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from django.core.management import call_command

from marketstream.celery import app as celery_app
from marketstream.runtime import connection_registry
from prices.instruments import SAMPLE_SCRIP_MASTER
from streams import queue
from streams.control import request_start, request_stop
from streams.keys import StreamSpec
from streams.models import Stream
from streams.registry import host_on
from tests.support.screens import record_runs
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


class SilentServer:
    """Accepts TCP connections and never answers: a WebSocket handshake hangs on it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def loaded(settings):
    settings.DEV_MODE = True
    settings.REDIS_URL = ""
    settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN = "1000000001", "demo-token"
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER))
    record_runs()


@pytest.fixture
def registry():
    owner = connection_registry()
    host_on(celery_app, owner)
    yield owner
    host_on(celery_app, None)
    owner.stop_all_streams(reason="test over")


def test_a_stop_is_honoured_within_2_s_while_the_upstream_hangs_in_the_handshake(
    loaded, settings, registry
):
    hanging = SilentServer()
    settings.DHANHQ_FEED_URL = f"ws://127.0.0.1:{hanging.port}"
    try:
        stream, _ = request_start(spec=StreamSpec("swing"), mode="quote", enqueue=False)
        assert registry.start(stream.key).started
        wait_until(lambda: hanging.accepted, what="the handshake to begin")
        thread = registry.thread(stream.key)
        time.sleep(0.5)  # well inside the 10 s open timeout
        asked = time.monotonic()
        request_stop(stream.key)  # an operator's stop, through the database
        thread.join(5)
        took = time.monotonic() - asked
        assert not thread.is_alive()
        print(f"stopped {took:.2f} s after the request, mid-handshake")
        assert took < 2.0, f"the stop took {took:.1f} s"
        row = Stream.objects.get(key=stream.key)
        assert (row.state, row.stopped_reason) == ("stopped", "stop requested")
    finally:
        hanging.close()


def test_an_operators_stop_survives_page_views(loaded, settings, client, registry):
    settings.DHANHQ_WS_ENABLED = False  # the eager start task would otherwise connect
    stream, _ = request_start(spec=StreamSpec("swing"), mode="quote", enqueue=False)
    call_command("stop_stream", stream.key)
    for _ in range(3):
        assert client.get("/screeners/swing").status_code == 200  # anonymous page views
    assert Stream.objects.get(key=stream.key).desired_state == "stopped"


def test_page_views_while_no_worker_runs_queue_one_start_per_key(loaded, client, monkeypatch):
    queued: list[tuple] = []
    task = celery_app.tasks[queue.START_TASK]
    monkeypatch.setattr(task, "apply_async", lambda args, **kw: queued.append(args))
    Stream.objects.create(key="type:swing", screener_type="swing", instruments=["NSE_EQ:2885"])
    for _ in range(300):  # the worker is down: nothing picks the start up
        assert client.get("/screeners/swing").status_code == 200
    assert sorted(queued) == [("type:indices",), ("type:swing",)]  # its own, the index strip
