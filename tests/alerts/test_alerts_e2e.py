"""Alerts end to end with real processes: redis-server, a Celery worker that runs the feed,
evaluator workers (two at once, killed, restarted), daphne for the API, and the simulator
driven to known prices. A gap fires a crossing alert exactly once; a spent alert never
fires again; a crossing that happened while no evaluator ran is caught up, once;
`every_time` fires again after its cooldown; an expired alert never fires."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from dhan.segments import InstrumentKey
from dhan.simulator import DhanSimulator, SimulatorConfig
from tests.conftest import ManagedProcess, free_port, manage, manage_env, wait_for_port
from tests.prices.test_fanout_e2e import sample_tick_sizes

RELIANCE = "NSE_EQ:2885"
WORKER = ["-m", "celery", "-A", "marketstream", "worker", "-P", "threads", "-c", "4",
          "--without-mingle", "--without-gossip"]  # fmt: skip


class Stack:
    def __init__(self, tmp_path, processes, redis_url: str) -> None:
        self.tmp, self.processes = tmp_path, processes
        self.sim = DhanSimulator(
            SimulatorConfig(port=free_port(), rest_port=0, ticks_per_second=10, seed=5),
            tick_size=sample_tick_sizes(),
        ).start()
        self.sim.prices.pin(InstrumentKey.parse(RELIANCE), 1500.0)
        self.redis = redis.Redis.from_url(redis_url)
        self.env = manage_env(
            DATABASE_URL=f"sqlite:///{tmp_path / 'alerts.sqlite3'}",
            REDIS_URL=redis_url,
            DEV_MODE="true",
            DHANHQ_FEED_URL=f"ws://127.0.0.1:{self.sim.port}",
            DHANHQ_CLIENT_ID="1000000001",
            DHANHQ_ACCESS_TOKEN="demo-token",
            MARKETSTREAM_ENCRYPTION_KEY="Cq8fZ3mJzKQwz5tUq1S0mD3mYp2tG9bB8sWcQm7H6kU=",
        )
        for command in ("migrate", "load_instruments"):
            manage(command, env=self.env)
        manage("shell", "-c", "from django.contrib.auth.models import User; "
               "User.objects.create_user('alice', password='pw')", env=self.env)  # fmt: skip
        self.token = manage("create_api_token", "--user", "alice", env=self.env).strip()
        self.web_port = free_port()
        web = self.start("web", ["-m", "daphne", "-b", "127.0.0.1", "-p", str(self.web_port),
                                 "marketstream.asgi:application"])  # fmt: skip
        wait_for_port(self.web_port, process=web)
        # The feed runs in a worker that does not evaluate: evaluators come and go below.
        self.start("feed", [*WORKER, "-Q", "streams,celery"], MARKETSTREAM_ALERT_EVALUATOR="false")
        manage("start_stream", "--type", "swing", "--symbols", "RELIANCE", env=self.env)
        self.evaluators: list[ManagedProcess] = []

    def start(self, name: str, args: list[str], **env: str) -> ManagedProcess:
        proc = ManagedProcess(
            [sys.executable, *args], env={**self.env, **env}, log=self.tmp / f"{name}.log"
        )
        self.processes.append(proc)
        return proc

    def start_evaluator(self) -> ManagedProcess:
        name = f"evaluator{len(self.evaluators)}"
        proc = self.start(name, [*WORKER, "-Q", "celery", "-n", f"{name}@%h"])
        self.evaluators.append(proc)
        return proc

    def kill_evaluators(self) -> None:
        for proc in self.evaluators:
            proc.proc.kill()  # SIGKILL: no goodbye, the lead lapses on its own
            proc.proc.wait(10)
        self.evaluators = []

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read())

    def alert(self, **body) -> int:
        return self.api("POST", "/api/v1/alerts", {"key": RELIANCE, **body})["alert"]["id"]

    def events(self, alert_id: int) -> list[dict]:
        return self.api("GET", f"/api/v1/alerts/{alert_id}/events")["events"]

    def price(self, price: float) -> None:
        """Move the market to `price` and wait until the feed has cached it."""
        self.sim.prices.pin(InstrumentKey.parse(RELIANCE), price)
        until(lambda: float(self.redis.hget("ltp_last", RELIANCE) or 0) == price, 15, "price")

    def judged(self, price: float) -> None:
        """Wait until the evaluator has judged `price` (its mark, kept in the database)."""
        script = (
            "from alerts.models import EvaluatorMark as M; "
            f"m = M.objects.filter(key='{RELIANCE}').first(); print(m and m.price)"
        )
        until(lambda: manage("shell", "-c", script, env=self.env).strip().endswith(str(price)),
              20, f"the evaluator judging {price}")  # fmt: skip


def until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def stack(tmp_path, processes, redis_url):
    built = Stack(tmp_path, processes, redis_url)
    yield built
    built.sim.stop()


def test_alerts_fire_once_survive_evaluator_restarts_and_catch_up(stack):
    stack.price(1500.0)
    once = stack.alert(condition="crosses_up", value=1520)
    every = stack.alert(condition="crosses", value=1520, frequency="every_time", cooldown_seconds=3)
    soon = (timezone.now() + timedelta(seconds=2)).isoformat()
    expiring = stack.alert(condition="crosses_up", value=1520, expires_at=soon)
    stack.start_evaluator()
    stack.start_evaluator()  # two evaluator workers at once: one leads
    stack.judged(1500.0)
    time.sleep(2.5)  # `expiring` expires

    stack.price(1530.0)  # a gap from below to above the level, in one tick
    until(lambda: stack.events(once), 15, "the crossing fired")
    time.sleep(2)
    assert [(e["previous_price"], e["price"]) for e in stack.events(once)] == [(1500.0, 1530.0)]
    assert len(stack.events(every)) == 1
    assert stack.events(expiring) == []

    stack.kill_evaluators()  # no evaluator runs while the price falls through the level
    time.sleep(4)  # past `every`'s cooldown
    stack.price(1490.0)
    stack.start_evaluator()  # catches up 1530 -> 1490, once; `once` is spent
    until(lambda: len(stack.events(every)) == 2, 30, "the missed crossing caught up")
    stack.judged(1490.0)
    time.sleep(2)
    moves = [(e["previous_price"], e["price"]) for e in stack.events(every)]  # newest first
    assert moves == [(1530.0, 1490.0), (1500.0, 1530.0)]
    assert len(stack.events(once)) == 1

    time.sleep(3.5)  # the cooldown again
    stack.price(1525.0)
    until(lambda: len(stack.events(every)) == 3, 15, "every_time firing again")
    time.sleep(2)
    assert len(stack.events(once)) == 1 and stack.events(expiring) == []
    statuses = {a["id"]: a["status"] for a in stack.api("GET", "/api/v1/alerts")["alerts"]}
    assert statuses == {once: "triggered", every: "active", expiring: "expired"}
