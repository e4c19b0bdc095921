"""Market-feed connection threads in one process (embedded mode) against the simulator:
life, failures, leaks."""

from __future__ import annotations

import logging
import threading
import time

import psutil
import pytest
from django.core.management import CommandError, call_command

from dhan.simulator import DhanSimulator, SimulatorConfig
from marketstream.celery import app as celery_app
from marketstream.runtime import connection_registry
from prices.cache import price_store
from prices.instruments import SAMPLE_SCRIP_MASTER
from prices.models import Instrument
from streams.control import request_start, request_stop
from streams.keys import StreamSpec
from streams.models import Stream
from streams.registry import StreamStartError, host_on
from streams.supervision import supervise
from tests.support.screens import record_runs
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "S3CRET-T0KEN-do-not-log"


@pytest.fixture
def sim():
    simulator = DhanSimulator(
        SimulatorConfig(port=0, rest_port=0, ticks_per_second=20, access_token=SECRET, seed=2)
    ).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def env(settings, sim):
    settings.DHANHQ_FEED_URL = f"ws://127.0.0.1:{sim.port}"
    settings.DHANHQ_CLIENT_ID = sim.config.client_id
    settings.DHANHQ_ACCESS_TOKEN = SECRET
    settings.DEV_MODE = True
    settings.DHANHQ_WATCHDOG_SILENCE_SECONDS = 1.5
    settings.DHANHQ_RECONNECT_MAX_DELAY_SECONDS = 0.3
    settings.REDIS_URL = ""
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER))
    record_runs()
    return settings


@pytest.fixture
def registry():
    owner = connection_registry()
    host_on(celery_app, owner)  # what a runtime does: eager start tasks find it
    yield owner
    host_on(celery_app, None)
    owner.stop_all_streams(reason="test over")


def want(screener_type: str = "swing") -> str:
    stream, _ = request_start(spec=StreamSpec(screener_type), mode="quote", enqueue=False)
    return stream.key


def stream(key: str) -> Stream:
    return Stream.objects.get(key=key)


def test_ticks_reach_the_cache_and_a_stop_request_ends_the_thread(env, sim, registry):
    key = want()
    outcome = registry.start(key)
    assert outcome.started and registry.active_stream_count() == 1
    keys = stream(key).instruments
    prices = wait_until(lambda: price_store().read(keys), what="prices in the cache")
    assert set(prices) <= set(keys)
    wait_until(lambda: stream(key).state == Stream.State.RUNNING, what="running")
    thread = registry.thread(key)
    assert thread.name.startswith("feed[type:swing")
    request_stop(key)  # what stop_stream and the admin do, from any process
    thread.join(5)
    assert not thread.is_alive() and registry.active_stream_count() == 0
    row = stream(key)
    assert (row.state, row.stopped_reason) == (Stream.State.STOPPED, "stop requested")
    unsubscribed = [r for _, r in sim.requests if isinstance(r, dict) and r["RequestCode"] == 18]
    assert {i["SecurityId"] for r in unsubscribed for i in r["InstrumentList"]} == {
        k.split(":")[1] for k in keys
    }
    wait_until(lambda: sim.connection_count == 0, what="socket closed")


def test_starting_a_running_key_again_is_a_no_op_that_says_so(env, sim, registry):
    key = want()
    assert registry.start(key).started
    again = registry.start(key)
    assert not again.started and "already running" in again.message
    wait_until(lambda: sim.connection_count == 1, what="one connection")
    time.sleep(0.3)
    assert sim.connections_total == 1


def test_a_dropped_connection_reconnects_and_resubscribes_everything(env, sim, registry):
    key = want()
    registry.start(key)
    expected = set(stream(key).instruments)
    wait_until(lambda: {str(k) for k in sim.subscribed_keys()} == expected, what="subscribed")
    sim.drop_connections()
    wait_until(lambda: sim.connections_total == 2, what="reconnect")
    wait_until(lambda: {str(k) for k in sim.subscribed_keys()} == expected, what="resubscribed")
    wait_until(
        lambda: stream(key).reconnects >= 1 and stream(key).state == "running",
        what="reconnect recorded",
    )


def test_a_silent_socket_is_reconnected_by_the_watchdog(env, sim, registry):
    key = want()
    registry.start(key)
    wait_until(lambda: sim.connection_count == 1, what="connected")
    sim.silent = True
    wait_until(lambda: sim.connections_total >= 2, timeout=15, what="watchdog reconnect")
    sim.silent = False
    assert "watchdog" in stream(key).last_error or stream(key).state == "running"


def test_a_wrong_token_stops_the_stream_with_a_clear_error(env, sim, registry):
    env.DHANHQ_ACCESS_TOKEN = "wrong-token-value"
    key = want()
    registry.start(key)
    wait_until(lambda: registry.active_stream_count() == 0, timeout=15, what="thread ends")
    row = stream(key)
    assert row.state == Stream.State.ERROR and row.desired_state == Stream.Desired.STOPPED
    assert "809" in row.last_error and "access token invalid" in row.last_error
    assert sim.connections_total <= 3
    assert "wrong-token-value" not in row.last_error


def test_streams_stop_at_the_close_and_beat_restarts_them_at_the_open(
    env, sim, registry, monkeypatch
):
    key = want()
    registry.start(key)
    wait_until(lambda: stream(key).state == "running", what="running")
    env.DEV_MODE = False
    monkeypatch.setattr("prices.calendar.session_is_open", lambda now=None: False)
    wait_until(lambda: registry.active_stream_count() == 0, timeout=8, what="stop at close")
    row = stream(key)
    assert (row.state, row.stopped_reason, row.desired_state) == (
        Stream.State.MARKET_CLOSED,
        "market closed",
        Stream.Desired.RUNNING,
    )
    assert supervise().started == []  # closed: beat starts nothing
    outcome = registry.start(key)
    assert not outcome.started and "market is closed" in outcome.message
    monkeypatch.setattr("prices.calendar.session_is_open", lambda now=None: True)
    assert supervise().started == [key]  # the open: beat's tick starts every wanted stream
    wait_until(lambda: registry.active_stream_count() == 1, what="restarted at the open")


def test_200_start_stop_cycles_leave_threads_and_sockets_where_they_began(env, sim, registry):
    key = want()
    process = psutil.Process()

    def cycle():
        registry.start(key)
        wait_until(lambda: sim.connection_count == 1, what="connected")
        assert registry.stop(key, reason="cycle")
        wait_until(lambda: sim.connection_count == 0, what="closed")
        Stream.objects.filter(key=key).update(state=Stream.State.STOPPED)

    cycle()  # warm-up: first-use threads (executors, loggers) are not leaks
    threads, fds = threading.active_count(), process.num_fds()
    sockets = len(process.net_connections())
    for _ in range(200):
        cycle()
    wait_until(lambda: threading.active_count() <= threads, what="threads to end")
    assert threading.active_count() == threads
    assert process.num_fds() <= fds + 2  # sqlite may keep a journal open between queries
    assert len(process.net_connections()) <= sockets
    assert registry.active_stream_count() == 0


def test_no_log_record_at_any_level_carries_the_token(env, sim, registry, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("websockets", "websockets.client", "marketstream", "asyncio"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        key = want()
        registry.start(key)
        wait_until(lambda: stream(key).state == "running", what="connect")
        sim.drop_connections()
        wait_until(lambda: sim.connections_total == 2, what="reconnect")
        registry.stop(key, reason="test")
        env.DHANHQ_ACCESS_TOKEN = "another-secret-token"
        bad = want("longterm")
        registry.start(bad)
        wait_until(lambda: stream(bad).state == "error", timeout=15, what="auth failure")
    finally:
        for name in ("websockets", "websockets.client", "marketstream", "asyncio"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    texts = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    assert any("GET /?version=2" in t for t in texts), "websockets' request line was logged"
    assert any("809" in t for t in texts)
    for secret in (SECRET, "another-secret-token"):
        assert not [t for t in texts if secret in t]
    assert SECRET not in caplog.text and "another-secret-token" not in caplog.text


@pytest.mark.parametrize("backend", ["embedded", pytest.param("redis", marks=pytest.mark.e2e)])
def test_a_sixth_stream_for_one_client_id_is_refused_clearly(env, sim, registry, backend, request):
    if backend == "redis":
        env.REDIS_URL = request.getfixturevalue("redis_url")
    symbols = ["RELIANCE", "TCS", "HDFCBANK", "INFY", "ITC", "SBIN"]
    keys = [
        request_start(spec=StreamSpec("swing", symbols=(s,)), mode="ticker", enqueue=False)[0].key
        for s in symbols
    ]
    for key in keys[:5]:
        assert registry.start(key).started
    with pytest.raises(StreamStartError, match="allows 5 feed connections per client id"):
        registry.start(keys[5])
    assert registry.stop(keys[0], reason="make room")
    assert registry.start(keys[5]).started


def test_more_than_5000_instruments_on_one_stream_is_refused_clearly(env):
    from tests.support.instruments import full_scrip_master

    call_command("load_instruments", str(full_scrip_master()))
    keys = [i.key for i in Instrument.objects.filter(exchange_segment="BSE_EQ")[:5001]]
    with pytest.raises(CommandError, match="5001 instruments exceed DhanHQ's 5000 per conn"):
        call_command("start_stream", "--type", "swing", "--keys", ",".join(keys))
    assert not Stream.objects.exists()


@pytest.mark.e2e
def test_a_stream_lock_survives_redis_going_away_and_yields_to_a_new_holder(settings, redis_server):
    from prices.cache import redis_client
    from streams.locks import ConnectionLocks, KeyBusy, LocalSlots

    settings.REDIS_URL = redis_server.url
    redis_server.client().flushall()

    def locks() -> ConnectionLocks:
        return ConnectionLocks(
            "type:swing",
            client_id="1000000001",
            client=redis_client(redis_server.url),
            local=LocalSlots(),
        )

    lock = locks()
    lock.acquire()
    redis_server.stop()
    try:
        assert lock.renew()  # unreachable: the feed goes on
        lock.release()  # and this does not raise: the lock lapses by its TTL
    finally:
        redis_server.start()
    lock = locks()
    lock.acquire()
    redis_server.client().flushall()  # a restart without persistence: the locks are gone
    assert lock.renew()  # taken again
    with pytest.raises(KeyBusy, match="already running in another worker"):
        locks().acquire()
    redis_server.client().flushall()
    rival = locks()
    rival.acquire()  # another worker took the key while ours had lapsed
    assert not lock.renew()
    rival.release()
