"""Redis I/O never blocks the loop that reads DhanHQ: with redis-server paused (SIGSTOP)
for 10 s under a running stream, the upstream (which pings every second and drops a
client that has not answered for 3 s) keeps the connection, and the latest prices reach
Redis soon after SIGCONT. Also: health says `healthy` as soon as ticks flow."""

from __future__ import annotations

import signal
import time

import pytest
from django.core.management import call_command

from dhan.segments import InstrumentKey
from dhan.simulator import DhanSimulator, SimulatorConfig
from marketstream.runtime import connection_registry
from prices.cache import redis_client
from prices.health import market_health
from prices.instruments import SAMPLE_SCRIP_MASTER
from prices.models import Instrument
from streams.control import request_start
from streams.health import stream_rows
from streams.keys import StreamSpec
from tests.support.redis import RedisServer
from tests.support.screens import record_runs
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
KEYS = ["NSE_EQ:2885", "NSE_EQ:11536", "NSE_EQ:1333"]


@pytest.fixture
def paused_redis(tmp_path):
    """A redis-server of this test's own: the test pauses it."""
    server = RedisServer(tmp_path)
    yield server
    server.proc.send_signal(signal.SIGCONT)
    server.stop()


@pytest.fixture
def stack(settings, paused_redis):
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER))
    record_runs()
    ticks = {i.instrument_key: float(i.tick_size) for i in Instrument.objects.all()}
    sim = DhanSimulator(
        SimulatorConfig(
            port=0,
            rest_port=0,
            ticks_per_second=10,
            seed=4,
            ping_interval_seconds=1,
            ping_timeout_seconds=3,
        ),
        tick_size=ticks.__getitem__,  # the instruments' own grids, as the demo's simulator
    ).start()
    settings.REDIS_URL = paused_redis.url
    settings.DEV_MODE = True
    settings.DHANHQ_FEED_URL = f"ws://127.0.0.1:{sim.port}"
    settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN = "1000000001", "demo-token"
    registry = connection_registry()
    yield sim, registry, redis_client(paused_redis.url)
    registry.stop_all_streams(reason="test over")
    sim.stop()


def cached(client) -> dict[str, float]:
    values = client.mget([f"ltp:{k}" for k in KEYS])
    return {k: float(v) for k, v in zip(KEYS, values, strict=True) if v is not None}


def test_a_paused_redis_never_costs_the_upstream_connection(stack, paused_redis):
    sim, registry, client = stack
    key = request_start(spec=StreamSpec("swing", keys=tuple(KEYS)), mode="ticker", enqueue=False)
    assert registry.start(key[0].key).started
    wait_until(lambda: len(cached(client)) == len(KEYS), what="prices in Redis")
    paused_redis.proc.send_signal(signal.SIGSTOP)
    time.sleep(10)
    sim.silent = True  # freeze the prices: the last ones sent are the latest
    time.sleep(0.5)
    latest = {k: sim.prices.snapshot(InstrumentKey.parse(k))["ltp"] for k in KEYS}
    assert sim.connections_total == 1, "the upstream dropped the feed while Redis was paused"
    paused_redis.proc.send_signal(signal.SIGCONT)
    resumed = time.monotonic()
    wait_until(lambda: cached(client) == latest, timeout=5, what="the latest prices in Redis")
    took = time.monotonic() - resumed
    print(f"latest prices in Redis {took:.2f} s after SIGCONT")
    assert took < 2.0, f"the latest prices reached Redis {took:.1f} s after SIGCONT"
    assert sim.connections_total == 1


def test_health_is_healthy_within_a_second_of_the_first_tick(stack):
    _sim, registry, client = stack
    key = request_start(spec=StreamSpec("swing", keys=tuple(KEYS)), mode="ticker", enqueue=False)
    assert registry.start(key[0].key).started
    wait_until(lambda: cached(client), what="the first tick in Redis")
    first = time.monotonic()
    wait_until(
        lambda: market_health(rows=stream_rows).status == "healthy", timeout=5, what="healthy"
    )
    assert time.monotonic() - first < 1.0
    assert client.exists("market_stream:heartbeat")
