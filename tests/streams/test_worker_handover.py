"""Workers going away under their streams, with real Celery workers, a real redis-server and
the simulator (the stack of test_worker_streams.py): a worker killed (status and health say
`worker_gone` within 3 s, naming it, until another worker takes the stream over), a worker
stopped gracefully (another runs its stream within 3 s), the last worker stopped (the next
to start resumes its streams), and an operator's stop (nobody takes it over)."""

from __future__ import annotations

import json
import signal
import sys
import time

import pytest

from tests.support.processes import ManagedProcess
from tests.support.waiting import wait_until
from tests.support.workers import WorkerStack

pytestmark = pytest.mark.e2e

WORKER_GONE_BOUND_SECONDS = 3.0  # the issue's: status says so within this of the death
HANDOVER_BOUND_SECONDS = 3.0  # the issue's: another worker runs the stream within this


@pytest.fixture
def stack(tmp_path, redis_url):
    with WorkerStack(tmp_path, redis_url) as built:
        built.deploy()
        yield built


def watch_status(stack: WorkerStack, key: str) -> ManagedProcess:
    """A process that reads `stream_status --json` and the health endpoint over and over,
    each line a JSON record of what they said and when, until another worker runs `key`."""
    script = WATCH_SCRIPT.format(key=key)
    watcher = stack.process("watch", [sys.executable, "manage.py", "shell", "-c", script])
    wait_until(lambda: watched(watcher), timeout=60, what="the status watcher reading")
    return watcher


WATCH_SCRIPT = """
import json, time
from io import StringIO
from django.core.management import call_command
from django.test import Client

key, until, owner, web = {key!r}, time.time() + 60, None, Client()
while time.time() < until:
    out = StringIO()
    call_command("stream_status", "--json", stdout=out)
    row = {{r["key"]: r for r in json.loads(out.getvalue())}}[key]
    status_at = time.time()
    health = web.get("/api/v1/health/market_stream").json()
    shown = {{r["key"]: r["state"] for r in health["streams"]}}[key]
    line = dict(status_at=status_at, state=row["state"], worker=row["worker"])
    print(json.dumps(dict(line, health_at=time.time(), health=shown)), flush=True)
    owner = owner or row["worker"]
    if row["state"] == "running" and row["worker"] not in ("", owner):
        break
    time.sleep(0.1)
"""


def watched(watcher: ManagedProcess) -> list[dict]:
    """The status watcher's records so far."""
    lines = watcher.output().splitlines()
    return [json.loads(line) for line in lines if line.startswith('{"status_at"')]


def test_the_last_worker_stopped_with_sigterm_leaves_its_streams_to_the_next_worker(stack):
    keys = [stack.manage("start_stream", "--type", t).strip() for t in ("swing", "longterm")]
    wait_until(lambda: sorted(stack.threads()) == sorted(keys), what="both running")
    wait_until(lambda: stack.sim.connection_count == 2, what="two sockets")
    assert len(stack.locks()) == 4  # a key lock and a connection slot per stream
    stack.workers[0].proc.send_signal(signal.SIGTERM)
    assert stack.workers[0].proc.wait(20) == 0
    assert stack.locks() == []  # no thread, socket or lock outlives the worker
    wait_until(lambda: stack.sim.connection_count == 0, timeout=5, what="sockets closed")
    status = stack.status()
    for key in keys:  # handed over, still wanted: not an operator's stop
        assert (status[key]["state"], status[key]["desired"]) == ("handed_over", "running")
        assert status[key]["stopped_reason"] == "worker shutdown: handed over"
        assert status[key]["worker"] == ""

    following = stack.start_worker("following")  # the deploy's new worker, no beat needed
    wait_until(
        lambda: all(
            (r["state"], r["worker"].rsplit(":", 1)[-1]) == ("running", str(following.proc.pid))
            for k, r in stack.status().items()
            if k in keys
        ),
        timeout=60,
        what="both streams resumed by the next worker",
    )
    wait_until(lambda: stack.sim.connection_count == 2, what="two sockets again")


def test_a_worker_killed_with_sigkill_shows_worker_gone_within_3_s_then_is_taken_over(stack):
    """No beat runs here: the surviving worker's takeover watcher alone brings it back once
    the dead worker's lock lapses; status and health say `worker_gone` meanwhile, within
    3 s of the kill (the issue's bound), naming the dead worker."""
    key, victim, survivor = stack.two_workers(("--type", "swing", "--symbols", "RELIANCE"))
    watcher = watch_status(stack, key)
    pubsub = stack.redis.pubsub()
    pubsub.subscribe("live_ltp_updates")

    killed_at = time.time()
    killed = time.monotonic()
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(5)
    pubsub.get_message(timeout=1)  # the subscribe confirmation
    while pubsub.get_message(timeout=0.1):  # what the victim published before it died
        pass

    def fresh_prices() -> bool:
        message = pubsub.get_message(timeout=0.5)
        return bool(message and message["type"] == "message")

    wait_until(fresh_prices, timeout=20, what="prices from the survivor")
    recovered = time.monotonic() - killed
    print(f"worker SIGKILL: prices flow again after {recovered:.1f} s")
    assert recovered <= 15
    row = stack.status()[key]
    assert row["state"] == "running" and row["worker"].endswith(f":{survivor.proc.pid}")
    assert stack.threads() == [key]
    pubsub.close()

    assert watcher.proc.wait(30) == 0
    seen = watched(watcher)
    before = [r for r in seen if r["status_at"] < killed_at]
    assert before and {r["state"] for r in before} == {"running"}
    gone = next((r for r in seen if r["state"] == "worker_gone"), None)
    gone_in_health = next((r for r in seen if r["health"] == "worker_gone"), None)
    assert gone and gone_in_health, "status or health never said worker_gone"
    print(
        f"worker SIGKILL: worker_gone in status after {gone['status_at'] - killed_at:.1f} s, "
        f"in health after {gone_in_health['health_at'] - killed_at:.1f} s"
    )
    assert gone["status_at"] - killed_at <= WORKER_GONE_BOUND_SECONDS
    assert gone_in_health["health_at"] - killed_at <= WORKER_GONE_BOUND_SECONDS
    assert gone["worker"].endswith(f":{victim.proc.pid}")  # it names the dead worker
    assert seen[-1]["state"] == "running"  # until the takeover
    assert seen[-1]["worker"].endswith(f":{survivor.proc.pid}")


def test_a_worker_stopped_with_sigterm_hands_its_stream_to_another_within_3_s(stack):
    """A graceful stop (a deploy) frees the stream at once: no wait for its lock to lapse."""
    key, owner, other = stack.two_workers(("--type", "swing", "--symbols", "RELIANCE,TCS"))
    expected = {str(k) for k in stack.sim.subscribed_keys()}
    before = stack.sim.connections_total
    most_sockets = 0

    def subscribed_again() -> bool:
        nonlocal most_sockets
        most_sockets = max(most_sockets, stack.sim.connection_count)
        new = stack.sim.connections_total > before
        return new and {str(k) for k in stack.sim.subscribed_keys()} == expected

    stopped = time.monotonic()
    owner.proc.send_signal(signal.SIGTERM)
    wait_until(subscribed_again, timeout=20, what="another worker subscribed")
    took = time.monotonic() - stopped
    print(f"worker SIGTERM: another worker subscribed after {took:.2f} s")
    assert took <= HANDOVER_BOUND_SECONDS
    assert most_sockets == 1  # one live connection per key, throughout
    assert owner.proc.wait(20) == 0
    wait_until(lambda: stack.status()[key]["state"] == "running", what="running again")
    row = stack.status()[key]
    assert row["worker"].endswith(f":{other.proc.pid}") and row["desired"] == "running"
    assert stack.threads() == [key] and len(stack.locks()) == 2


def test_an_operators_stop_is_not_taken_over_by_another_worker(stack):
    key, _owner, _other = stack.two_workers(("--type", "swing", "--symbols", "RELIANCE"))
    stack.manage("stop_stream", key)
    wait_until(lambda: stack.threads() == [] and stack.locks() == [], what="stopped")
    connections = stack.sim.connections_total
    time.sleep(3)  # longer than a takeover watcher's look (at most 2.5 s apart)
    assert stack.threads() == [] and stack.locks() == []
    assert stack.sim.connections_total == connections
    row = stack.status()[key]
    assert (row["state"], row["stopped_reason"], row["desired"]) == (
        "stopped",
        "stop requested",
        "stopped",
    )
