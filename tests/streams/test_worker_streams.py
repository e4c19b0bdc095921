"""Streams in a real Celery worker (thread pool) with a real redis-server, driven by the
manage.py commands from other processes, against the DhanHQ simulator. (Workers killed and
stopped: test_worker_handover.py, on the same stack.)"""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from tests.support.waiting import wait_until
from tests.support.workers import TOKEN, WorkerStack

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path, redis_url):
    with WorkerStack(tmp_path, redis_url) as built:
        built.deploy()
        yield built


def test_a_stream_started_by_command_runs_once_survives_failures_and_stops_on_request(stack):
    key = stack.manage("start_stream", "--type", "swing", "--symbols", "RELIANCE,TCS").strip()
    assert key == "type:swing|symbols:RELIANCE,TCS"
    wait_until(
        lambda: stack.redis.get("ltp:NSE_EQ:2885") and stack.redis.get("ltp:NSE_EQ:11536"),
        what="ticks in Redis",
    )
    assert stack.redis.ttl("ltp:NSE_EQ:2885") <= 30
    assert float(stack.redis.get("ltp:NSE_EQ:2885")) > 0
    assert stack.threads() == [key]
    beat = wait_until(lambda: stack.redis.get("market_stream:heartbeat"), what="heartbeat")
    assert datetime.fromisoformat(beat.decode()).tzinfo is not None
    assert 0 < stack.redis.ttl("market_stream:heartbeat") <= 60

    # The same key again, by command and straight into the queue: still one feed.
    stack.manage("start_stream", "--type", "swing", "--symbols", "TCS,RELIANCE")
    for _ in range(2):
        stack.control.send_task("streams.start_stream_task", args=[key], queue="streams")
    time.sleep(1.5)
    assert stack.threads() == [key] and stack.sim.connections_total == 1

    # The upstream dies and comes back: the feed reconnects and resubscribes everything.
    stack.sim.stop()
    time.sleep(1)
    stack.sim = stack.start_simulator(token=TOKEN)
    wait_until(
        lambda: {str(k) for k in stack.sim.subscribed_keys()} == {"NSE_EQ:2885", "NSE_EQ:11536"},
        what="resubscribed after restart",
    )

    # Connected but silent: the watchdog reconnects.
    before = stack.sim.connections_total
    stack.sim.silent = True
    wait_until(lambda: stack.sim.connections_total > before, what="watchdog reconnect")
    stack.sim.silent = False

    # Stopped from another process: the thread is gone within 5 s, nothing left behind.
    stack.manage("stop_stream", key)
    wait_until(lambda: stack.threads() == [], timeout=5, what="thread gone")
    wait_until(lambda: stack.sim.connection_count == 0, timeout=5, what="socket closed")
    wait_until(lambda: stack.locks() == [], timeout=5, what="locks released")
    row = stack.status()[key]
    assert (row["state"], row["stopped_reason"]) == ("stopped", "stop requested")
    assert row["reconnects"] >= 2


def test_a_wrong_token_stops_the_stream_with_a_clear_error(stack):
    stack.sim.stop()
    stack.sim = stack.start_simulator(token="a-different-token")
    key = stack.manage("start_stream", "--type", "longterm", "--keys", "IDX_I:13").strip()
    wait_until(lambda: stack.status()[key]["state"] == "error", what="error state")
    row = stack.status()[key]
    assert "809 access token invalid" in row["last_error"] and TOKEN not in row["last_error"]
    assert stack.sim.connections_total <= 3
    assert stack.threads() == [] and stack.locks() == []
    assert TOKEN not in stack.workers[0].output()
