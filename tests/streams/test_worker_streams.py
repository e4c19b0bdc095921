"""Streams in a real Celery worker (thread pool) with a real redis-server, driven by the
manage.py commands from other processes, against the DhanHQ simulator. (Workers killed and
stopped: test_worker_handover.py, on the same stack.)"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime

import pytest
from celery import Celery

from dhan.simulator import DhanSimulator, SimulatorConfig
from tests.conftest import ManagedProcess, free_port, manage, manage_env, wait_until

TOKEN = "worker-test-token-value"


class Stack:
    def __init__(self, tmp_path, redis_server, processes) -> None:
        self.redis = redis_server.client()
        self.sim_port = free_port()
        self.sim = self.start_simulator(token=TOKEN)
        self.env = manage_env(
            DATABASE_URL=f"sqlite:///{tmp_path / 'worker.sqlite3'}",
            REDIS_URL=redis_server.url,
            DHANHQ_FEED_URL=f"ws://127.0.0.1:{self.sim_port}",
            DHANHQ_CLIENT_ID="1000000001",
            DHANHQ_ACCESS_TOKEN=TOKEN,
            DEV_MODE="true",
            DHANHQ_WATCHDOG_SILENCE_SECONDS="2",
            DHANHQ_RECONNECT_MAX_DELAY_SECONDS="0.5",
        )
        manage("migrate", "--noinput", env=self.env)
        manage("load_instruments", env=self.env)
        manage("load_screeners", env=self.env)
        self._tmp, self._processes = tmp_path, processes
        self.worker = self.start_worker("w")
        self.control = Celery(broker=redis_server.url)
        wait_until(lambda: self.control.control.ping(timeout=0.5), timeout=30, what="worker ready")

    def start_worker(self, name: str) -> ManagedProcess:
        worker = ManagedProcess(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "marketstream",
                "worker",
                "-Q",
                "streams,celery",
                "-P",
                "threads",
                "-c",
                "4",
                "--without-mingle",
                "--without-gossip",
                "-l",
                "INFO",
                "-n",
                f"{name}{self.sim_port}@%h",
            ],
            env=self.env,
            log=self._tmp / f"{name}.log",
        )
        self._processes.append(worker)
        return worker

    def start_simulator(self, *, token: str) -> DhanSimulator:
        return DhanSimulator(
            SimulatorConfig(
                port=self.sim_port, rest_port=0, access_token=token, ticks_per_second=10, seed=3
            )
        ).start()

    def manage(self, *args: str) -> str:
        return manage(*args, env=self.env)

    def threads(self) -> list[str]:
        replies = self.control.control.broadcast("stream_threads", reply=True, timeout=1)
        return [key for reply in replies for result in reply.values() for key in result["keys"]]

    def status(self) -> dict[str, dict]:
        return {row["key"]: row for row in json.loads(self.manage("stream_status", "--json"))}

    def locks(self) -> list[bytes]:
        return self.redis.keys("market_stream:lock:*") + self.redis.keys(
            "market_stream:connection:*"
        )

    def two_workers(self, key_args: tuple[str, ...]) -> tuple[str, ManagedProcess, ManagedProcess]:
        """A second worker, then a stream started: (its key, its worker, the other)."""
        spare = self.start_worker("spare")
        wait_until(lambda: len(self.control.control.ping(timeout=0.5)) == 2, what="two workers")
        key = self.manage("start_stream", *key_args).strip()
        wait_until(lambda: self.status()[key]["state"] == "running", what="running")
        owner_pid = int(self.status()[key]["worker"].rsplit(":", 1)[1])
        owner, other = (self.worker, spare)
        if owner_pid != owner.proc.pid:
            owner, other = other, owner
        assert owner_pid == owner.proc.pid
        return key, owner, other


@pytest.fixture
def stack(tmp_path, redis_server, processes):
    redis_server.client().flushall()
    built = Stack(tmp_path, redis_server, processes)
    yield built
    built.sim.stop()


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
    assert TOKEN not in stack.worker.output()
