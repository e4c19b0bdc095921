"""Alerts end to end with real processes: redis-server, a Celery worker that runs the feed,
evaluator workers (two at once, killed, restarted), daphne for the API, and the simulator
driven to known prices. A gap fires a crossing alert exactly once; a spent alert never
fires again; a crossing that happened while no evaluator ran is caught up, once;
`every_time` fires again after its cooldown; an expired alert never fires."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone

from dhan.segments import InstrumentKey
from dhan.simulator import DhanSimulator, SimulatorConfig
from prices.instruments import SAMPLE_SCRIP_MASTER
from tests.support.instruments import sample_tick_sizes
from tests.support.processes import ManagedProcess, free_port
from tests.support.stack import Stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
RELIANCE = "NSE_EQ:2885"
WORKER_CONCURRENCY = 4
# Waits poll this far apart: each poll of `judged` is a command, of `events` an API call.
POLL_SECONDS = 0.2


class AlertStack(Stack):
    """Redis, the simulator (RELIANCE pinned), daphne for the API, a worker that runs the
    feed and evaluates nothing, and evaluator workers that come and go."""

    def __init__(self, tmp_path, redis_url: str) -> None:
        sim = DhanSimulator(
            SimulatorConfig(port=free_port(), rest_port=0, ticks_per_second=10, seed=5),
            tick_size=sample_tick_sizes(),
        ).start()
        sim.prices.pin(InstrumentKey.parse(RELIANCE), 1500.0)
        super().__init__(
            tmp_path,
            sim=sim,
            redis_url=redis_url,
            database="alerts.sqlite3",
            MARKETSTREAM_ENCRYPTION_KEY="Cq8fZ3mJzKQwz5tUq1S0mD3mYp2tG9bB8sWcQm7H6kU=",
        )
        self.evaluators: list[ManagedProcess] = []
        self.token = ""

    def deploy(self) -> None:
        self.prepare("migrate --noinput", f"load_instruments {SAMPLE_SCRIP_MASTER}")
        self.create_user("alice", "pw")
        self.token = self.manage("create_api_token", "--user", "alice").strip()
        self.web_port = self.daphne("web").port
        # The feed runs in a worker that does not evaluate: evaluators come and go below.
        self.worker("feed", concurrency=WORKER_CONCURRENCY, MARKETSTREAM_ALERT_EVALUATOR="false")
        self.manage("start_stream", "--type", "swing", "--symbols", "RELIANCE")

    def start_evaluator(self) -> ManagedProcess:
        name = f"evaluator{len(self.evaluators)}"
        proc = self.worker(name, queues="celery", concurrency=WORKER_CONCURRENCY, node=name)
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
        wait_until(
            lambda: float(self.redis.hget("ltp_last", RELIANCE) or 0) == price,
            timeout=15,
            what="price",
            interval=POLL_SECONDS,
        )

    def judged(self, price: float) -> None:
        """Wait until the evaluator has judged `price` (its mark, kept in the database)."""
        script = (
            "from alerts.models import EvaluatorMark as M; "
            f"m = M.objects.filter(key='{RELIANCE}').first(); print(m and m.price)"
        )
        wait_until(
            lambda: self.manage("shell", "-c", script).strip().endswith(str(price)),
            timeout=20,
            what=f"the evaluator judging {price}",
            interval=POLL_SECONDS,
        )


@pytest.fixture
def stack(tmp_path, redis_url):
    with AlertStack(tmp_path, redis_url) as built:
        built.deploy()
        yield built


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
    wait_until(
        lambda: stack.events(once), timeout=15, what="the crossing fired", interval=POLL_SECONDS
    )
    time.sleep(2)
    assert [(e["previous_price"], e["price"]) for e in stack.events(once)] == [(1500.0, 1530.0)]
    assert len(stack.events(every)) == 1
    assert stack.events(expiring) == []

    stack.kill_evaluators()  # no evaluator runs while the price falls through the level
    time.sleep(4)  # past `every`'s cooldown
    stack.price(1490.0)
    stack.start_evaluator()  # catches up 1530 -> 1490, once; `once` is spent
    wait_until(
        lambda: len(stack.events(every)) == 2,
        timeout=30,
        what="the missed crossing caught up",
        interval=POLL_SECONDS,
    )
    stack.judged(1490.0)
    time.sleep(2)
    moves = [(e["previous_price"], e["price"]) for e in stack.events(every)]  # newest first
    assert moves == [(1530.0, 1490.0), (1500.0, 1530.0)]
    assert len(stack.events(once)) == 1

    time.sleep(3.5)  # the cooldown again
    stack.price(1525.0)
    wait_until(
        lambda: len(stack.events(every)) == 3,
        timeout=15,
        what="every_time firing again",
        interval=POLL_SECONDS,
    )
    time.sleep(2)
    assert len(stack.events(once)) == 1 and stack.events(expiring) == []
    statuses = {a["id"]: a["status"] for a in stack.api("GET", "/api/v1/alerts")["alerts"]}
    assert statuses == {once: "triggered", every: "active", expiring: "expired"}
