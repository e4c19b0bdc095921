"""Every DhanHQ REST call goes through one gate: spaced by DhanHQ's 1 request/s plus a
safety margin under a flood from many threads, and closed for `Retry-After` after a 429."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from dhan.rest import REST_SPACING_SECONDS, DhanRest
from dhan.segments import InstrumentKey
from prices import rest

pytestmark = pytest.mark.django_db


@pytest.fixture
def credentials(settings, simulator):
    settings.REDIS_URL = ""
    settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN = "1000000001", "demo-token"
    settings.DHANHQ_API_URL = f"http://127.0.0.1:{simulator.rest_port}/v2"


def test_a_flood_of_rest_calls_reaches_dhanhq_spaced_and_never_rate_limited(credentials, simulator):
    stop = time.monotonic() + 6
    answered: list[int] = []

    def flood() -> None:
        while time.monotonic() < stop:
            answered.append(len(rest.fetch_ltp(["NSE_EQ:2885", "NSE_EQ:1333"])))
            time.sleep(0.005)

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    arrivals = simulator.rest_call_times
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) >= 4 and answered.count(2) == len(arrivals)
    assert simulator.rest_rejections == 0
    assert min(gaps) >= 1.0, f"calls reached DhanHQ {min(gaps) * 1000:.0f} ms apart"


class OpenGate:
    """A gate that lets everything through and records hold-offs."""

    def __init__(self) -> None:
        self.held_for: list[float] = []

    def try_acquire(self) -> bool:
        return True

    def hold_off(self, seconds: float) -> None:
        self.held_for.append(seconds)


def test_a_429_closes_the_gate_for_retry_after(simulator):
    gate = OpenGate()
    client = DhanRest(
        base_url=f"http://127.0.0.1:{simulator.rest_port}/v2",
        client_id="1000000001",
        access_token="demo-token",
        gate=gate,
    )
    assert client.ltp([InstrumentKey.parse("NSE_EQ:2885")])  # answered
    assert client.ltp([InstrumentKey.parse("NSE_EQ:2885")]) == {}  # 429 from the simulator
    assert gate.held_for == [1.0] and simulator.rest_rejections == 1
    assert "demo-token" not in repr(client)


def test_the_gate_holds_every_caller_off_after_a_429(credentials):
    gate = rest.CacheRateGate("1000000001")
    assert gate.try_acquire()
    gate.hold_off(3.0)
    time.sleep(REST_SPACING_SECONDS + 0.1)
    assert not rest.CacheRateGate("1000000001").try_acquire()  # still held off


def test_the_gate_stays_shut_while_the_cache_is_unreachable(settings):
    from tests.support.processes import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url}}
    gate = rest.CacheRateGate("1000000001")
    assert gate.try_acquire() is False
    gate.hold_off(1.0)  # and this does not raise
