"""Hand-overs in one process: two registries stand in for two workers (the Redis locks
decide between them as between processes), against the simulator and a real redis-server.
A graceful stop frees a stream for another worker's takeover watcher, an operator's stop
stays a stop, the last worker leaves its streams for the next, and the locks' renewal (the
proof a worker lives) never waits behind the database. Real workers: test_worker_streams.py.
"""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from dhan.simulator import DhanSimulator, SimulatorConfig
from marketstream.runtime import connection_registry
from prices.cache import redis_client
from prices.instruments import SAMPLE_SCRIP_MASTER
from streams.control import request_start, request_stop
from streams.handover import HANDOVER_CHANNEL
from streams.keys import StreamSpec
from streams.liveness import RENEWAL_GRACE_SECONDS, read_locks
from streams.models import Stream
from streams.supervision import orphans
from streams.takeover import TakeoverWatcher
from streams.thread import HANDOVER_REASON
from tests.support.screens import record_runs
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
HANDOVER_BOUND_SECONDS = 3.0  # the issue's: another worker runs the stream within this
POLL_MARGIN_SECONDS = 3.0  # longer than a takeover watcher's jittered poll (at most 2.5 s)


@pytest.fixture
def sim():
    simulator = DhanSimulator(
        SimulatorConfig(port=0, rest_port=0, ticks_per_second=10, seed=5)
    ).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def env(settings, sim, redis_url):
    settings.DHANHQ_FEED_URL = f"ws://127.0.0.1:{sim.port}"
    settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN = "1000000001", "demo-token"
    settings.DEV_MODE = True
    settings.REDIS_URL = redis_url
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER))
    record_runs()
    return settings


@pytest.fixture
def workers(env):
    """Two registries, as two workers have; every connection stopped at the end."""
    made = [connection_registry(), connection_registry()]
    yield made
    for registry in made:
        registry.stop_all_streams(reason="test over")


@pytest.fixture
def watchers():
    """`watch(registry)`: a running takeover watcher, as a worker's runtime starts it."""
    started: list[TakeoverWatcher] = []

    def watch(registry) -> TakeoverWatcher:
        watcher = TakeoverWatcher(registry)
        watcher.start()
        started.append(watcher)
        return watcher

    yield watch
    for watcher in started:
        watcher.stop()


def running_stream(registry, sim) -> str:
    stream, _ = request_start(spec=StreamSpec("swing"), mode="quote", enqueue=False)
    assert registry.start(stream.key).started
    wait_until(lambda: row(stream.key).state == Stream.State.RUNNING, what="running")
    wait_until(lambda: sim.connection_count == 1, what="connected")
    return stream.key


def row(key: str) -> Stream:
    return Stream.objects.get(key=key)


def listening(redis_url) -> bool:
    """Some takeover watcher has subscribed to hand-overs."""
    counts = dict(redis_client(redis_url).pubsub_numsub(HANDOVER_CHANNEL))
    return counts[HANDOVER_CHANNEL.encode()] > 0


def test_a_graceful_stop_hands_the_stream_to_another_worker_within_3_s(env, sim, workers, watchers):
    stopping, other = workers
    key = running_stream(stopping, sim)
    watchers(other)
    wait_until(lambda: listening(env.REDIS_URL), what="the other worker listening")
    expected = {str(k) for k in sim.subscribed_keys()}

    asked = time.monotonic()
    stopping.hand_over_all()
    wait_until(lambda: other.thread(key) is not None, timeout=10, what="taken over")
    wait_until(
        lambda: sim.connections_total == 2 and {str(k) for k in sim.subscribed_keys()} == expected,
        timeout=10,
        what="the other worker subscribed",
    )
    took = time.monotonic() - asked
    print(f"handed over and subscribed again {took:.2f} s after the stop")
    assert took <= HANDOVER_BOUND_SECONDS
    assert stopping.active_keys() == [] and sim.connection_count == 1
    wait_until(lambda: row(key).state == Stream.State.RUNNING, what="running again")
    assert row(key).desired_state == Stream.Desired.RUNNING
    # The stopping worker starts nothing more: a start there is refused.
    refused = stopping.start(key)
    assert not refused.started and "stopping" in refused.message


def test_an_operators_stop_is_a_stop_even_when_a_hand_over_follows(env, sim, workers, watchers):
    stopping, other = workers
    key = running_stream(stopping, sim)
    watchers(other)
    wait_until(lambda: listening(env.REDIS_URL), what="the other worker listening")
    request_stop(key)  # the operator's, through the database
    stopping.hand_over_all()  # the worker's SIGTERM, before its thread read that stop
    stopping.stop_all_streams(reason=HANDOVER_REASON)
    stream = row(key)
    assert (stream.state, stream.desired_state) == (Stream.State.STOPPED, Stream.Desired.STOPPED)
    time.sleep(POLL_MARGIN_SECONDS)  # a takeover look or two would have started it
    assert other.active_keys() == [] and sim.connections_total == 1
    assert orphans() == [] and row(key).state == Stream.State.STOPPED


def test_the_last_worker_to_stop_leaves_its_streams_for_the_next_to_start(
    env, sim, workers, watchers
):
    last, following = workers
    key = running_stream(last, sim)
    last.hand_over_all()
    last.stop_all_streams(reason=HANDOVER_REASON)
    stream = row(key)
    assert (stream.state, stream.desired_state) == (
        Stream.State.HANDED_OVER,
        Stream.Desired.RUNNING,
    )
    assert stream.stopped_reason == HANDOVER_REASON and stream.worker_pid is None
    assert read_locks([key]).held == set()
    wait_until(lambda: sim.connection_count == 0, what="socket closed")
    assert orphans() == [key]
    watchers(following)  # the next worker starts: its watcher looks at once
    wait_until(lambda: following.thread(key) is not None, timeout=10, what="resumed")
    wait_until(lambda: row(key).state == Stream.State.RUNNING, what="running again")


def test_a_stalled_database_never_makes_a_running_worker_look_gone(env, sim, workers):
    owner, _ = workers
    key = running_stream(owner, sim)
    thread = owner.thread(key)
    thread.books.submit(lambda: time.sleep(RENEWAL_GRACE_SECONDS + 1.5))  # a database stall
    time.sleep(RENEWAL_GRACE_SECONDS + 1.0)
    assert key in read_locks([key]).renewed  # renewals went on beside the stalled bookkeeper
