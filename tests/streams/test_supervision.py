"""The one supervision step: what it starts (wanted, in its kind's hours, not alive), where
(queued, or here in a registry, where the key lock decides), what the sweeps leave to the
depth socket's own supervisor, and that every entry point decides through it: beat's task,
embedded mode's beat, the takeover watcher, the depth supervisor and account linking."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.utils import timezone

from marketstream.runtime import EmbeddedBeat
from prices.depthwatch import LocalDepthInterest
from streams import control, depthsupervisor, supervision, takeover, tasks
from streams.depthsupervisor import (
    BUSY_RETRY_SECONDS,
    POLL_SECONDS,
    REFUSED_RETRY_SECONDS,
    DepthSupervisor,
)
from streams.models import Stream
from streams.registry import StreamStartError
from streams.supervision import Supervised, supervise
from streams.takeover import TakeoverWatcher

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queued(settings, redis_url, monkeypatch) -> list[str]:
    """The full stack, the market open, and the starts the step queues (none runs)."""
    settings.REDIS_URL, settings.DEV_MODE = redis_url, True
    keys: list[str] = []
    monkeypatch.setattr(supervision, "enqueue_start", lambda key: keys.append(key) or True)
    return keys


class Registry:
    """A worker's registry as the step sees it: what runs here, and each start's answer
    (an outcome's `started`, or StreamStartError)."""

    def __init__(self, answers: dict[str, bool | Exception], running: tuple[str, ...] = ()):
        self.answers, self.running, self.asked = answers, set(running), []

    def thread(self, key):
        return object() if key in self.running else None

    def start(self, key):
        self.asked.append(key)
        answer = self.answers[key]
        if isinstance(answer, Exception):
            raise answer
        return SimpleNamespace(started=answer)


def want(key: str, **fields) -> Stream:
    return Stream.objects.create(key=key, desired_state="running", **fields)


def test_the_sweep_queues_what_is_wanted_and_not_alive_and_leaves_depth_be(queued):
    want("type:swing", screener_type="swing")
    want("orders:7", kind="order_updates")
    want("type:longterm", state="running", last_heartbeat=timezone.now())  # no lock: gone
    want("depth20", kind="depth20")  # on demand: its own supervisor names it
    Stream.objects.create(key="type:indices", desired_state="stopped")  # an operator's stop
    assert sorted(supervise().started) == ["orders:7", "type:longterm", "type:swing"]
    assert "depth20" not in queued
    queued.clear()
    assert supervise(keys=["depth20", "type:indices"]).started == ["depth20"]
    assert queued == ["depth20"]


def test_nothing_is_started_out_of_its_kinds_hours(queued, settings, monkeypatch):
    settings.DEV_MODE = False
    monkeypatch.setattr("prices.calendar.session_is_open", lambda now=None: False)
    monkeypatch.setattr("prices.calendar.order_feed_is_open", lambda now=None: True)
    want("type:swing")
    want("orders:7", kind="order_updates")
    assert supervise().started == ["orders:7"] and queued == ["orders:7"]


def test_started_here_the_key_lock_decides_and_what_runs_here_is_left_alone(queued):
    for key in ("depth20", "type:swing", "type:longterm", "type:indices"):
        want(key, kind="depth20" if key == "depth20" else "market_feed")
    registry = Registry(
        {"type:swing": True, "type:longterm": False, "type:indices": StreamStartError("no slot")},
        running=("depth20",),
    )
    done = supervise(registry=registry)
    assert done == Supervised(
        started=["type:swing"], busy=["type:longterm"], refused=["type:indices"]
    )
    assert sorted(registry.asked) == ["type:indices", "type:longterm", "type:swing"]
    assert queued == []  # started here, never queued


def test_the_takeover_starts_only_orphans_here(queued):
    want("type:swing", state="running", last_heartbeat=timezone.now())  # its lock lapsed
    want("type:longterm", state="handed_over")  # a stopping worker's
    want("type:indices")  # stopped, wanted: beat's to queue, not a takeover's
    registry = Registry({"type:swing": True, "type:longterm": False})
    assert TakeoverWatcher(registry).tick() == ["type:swing"]
    assert sorted(registry.asked) == ["type:longterm", "type:swing"] and queued == []


def test_linking_wants_a_stream_and_starts_it_at_once_in_the_full_stack_only(queued, settings):
    stream = control.want_stream("orders:7", kind="order_updates", mode="orders", wanted=True)
    assert (stream.desired_state, stream.kind, stream.mode) == (
        "running",
        "order_updates",
        "orders",
    )
    assert queued == ["orders:7"]
    control.want_stream("orders:7", kind="order_updates", mode="orders", wanted=False)
    assert Stream.objects.get(key="orders:7").desired_state == "stopped" and queued == ["orders:7"]
    settings.REDIS_URL = ""  # embedded: the web process's beat starts it, not a command
    control.want_stream("orders:8", kind="order_updates", mode="orders", wanted=True)
    assert queued == ["orders:7"] and Stream.objects.get(key="orders:8").desired_state == "running"
    assert control.forget_stream("orders:8") and not Stream.objects.filter(key="orders:8").exists()


class DepthRegistry(Registry):
    def __init__(self, answer: bool | Exception) -> None:
        super().__init__({"depth20": answer})


def test_the_depth_supervisor_opens_the_socket_only_while_someone_watches(queued):
    interest = LocalDepthInterest()
    supervisor = DepthSupervisor(DepthRegistry(True), interest)
    assert supervisor.step() == POLL_SECONDS
    assert not Stream.objects.exists()  # nobody watches: nothing made, nothing started
    interest.mark("web", ["NSE_EQ:2885"])
    assert supervisor.step() == POLL_SECONDS
    assert Stream.objects.get().kind == "depth20"
    assert DepthSupervisor(DepthRegistry(False), interest).step() == BUSY_RETRY_SECONDS
    refused = DepthSupervisor(DepthRegistry(StreamStartError("no slot")), interest)
    assert refused.step() == REFUSED_RETRY_SECONDS
    Stream.objects.update(desired_state="stopped")  # an operator's stop: 5 levels only
    stopped = DepthRegistry(True)
    assert DepthSupervisor(stopped, interest).step() == REFUSED_RETRY_SECONDS
    assert stopped.asked == [] and queued == []


@pytest.mark.parametrize(
    "entry_point",
    ["beat", "embedded beat", "takeover", "depth supervisor", "linking"],
)
def test_every_entry_point_decides_through_the_one_step(entry_point, queued, monkeypatch):
    calls: list[dict] = []

    def step(**kwargs) -> Supervised:
        calls.append(kwargs)
        return Supervised()

    for module in (supervision, tasks, takeover, depthsupervisor, control):
        monkeypatch.setattr(module, "supervise", step, raising=False)
    monkeypatch.setattr("marketstream.runtime.supervise", step)
    monkeypatch.setattr("marketstream.runtime.refresh_task", lambda: None)
    interest = LocalDepthInterest()
    interest.mark("web", ["NSE_EQ:2885"])
    run = {
        "beat": lambda: tasks.supervise_streams(),
        "embedded beat": lambda: EmbeddedBeat().step(),
        "takeover": lambda: TakeoverWatcher(Registry({})).tick(),
        "depth supervisor": lambda: DepthSupervisor(Registry({}), interest).step(),
        "linking": lambda: control.want_stream(
            "orders:1", kind="order_updates", mode="orders", wanted=True
        ),
    }
    run[entry_point]()
    assert len(calls) == 1
