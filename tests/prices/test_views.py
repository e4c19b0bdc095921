"""The JSON API: current prices (cache, REST fallback, rate limit, 400s) and health."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from dhan.rest import REST_SPACING_SECONDS
from prices import rest
from prices.cache import price_store
from prices.sink import PriceSink
from streams.models import Stream

pytestmark = pytest.mark.django_db
URL = "/api/v1/current_prices"


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.REDIS_URL = ""
    settings.DHANHQ_CLIENT_ID = settings.DHANHQ_ACCESS_TOKEN = ""


def cache_prices(**prices: float) -> None:
    sink = PriceSink()
    sink.put_many((k.replace("__", ":"), v) for k, v in prices.items())
    sink.flush()


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("", "missing 'keys'"),
        ("?keys=", "missing 'keys'"),
        ("?keys=%20", "missing 'keys'"),
        ("?keys=NSE_EQ", "malformed instrument key"),
        ("?keys=NSE_EQ:abc", "malformed security id"),
        ("?keys=FOO_EQ:1", "unknown segment 'FOO_EQ'"),
        ("?keys=NSE_EQ:1,,NSE_EQ:2", "empty"),
        ("?keys=" + ",".join(f"NSE_EQ:{i}" for i in range(1, 1002)), "too many keys: 1001"),
    ],
)
def test_bad_requests_get_400_with_a_clear_error(client, query, error):
    response = client.get(URL + query)
    assert response.status_code == 400
    assert error in response.json()["error"]


def test_cached_prices_in_one_read_and_the_rest_missing_without_credentials(client):
    cache_prices(NSE_EQ__2885=1519.9, IDX_I__13=26150.05)
    body = client.get(URL + "?keys=NSE_EQ:2885,IDX_I:13,NSE_EQ:1333,NSE_EQ:2885").json()
    assert body["prices"] == {"NSE_EQ:2885": 1519.9, "IDX_I:13": 26150.05}
    assert (body["count"], body["cached_count"], body["api_fetched_count"]) == (2, 2, 0)
    assert body["missing"] == ["NSE_EQ:1333"]
    assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None


def test_missing_keys_come_from_dhanhq_rest_through_the_sdk_once_per_second(
    client, settings, simulator
):
    settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN = "1000000001", "demo-token"
    settings.DHANHQ_API_URL = f"http://127.0.0.1:{simulator.rest_port}/v2"
    cache_prices(NSE_EQ__2885=1519.9)
    body = client.get(URL + "?keys=NSE_EQ:2885,NSE_EQ:1333,IDX_I:13").json()
    assert body["cached_count"] == 1 and body["api_fetched_count"] == 2
    assert set(body["prices"]) == {"NSE_EQ:2885", "NSE_EQ:1333", "IDX_I:13"}
    assert body["missing"] == []
    fetched = body["prices"]["NSE_EQ:1333"]
    assert price_store().read(["NSE_EQ:1333"]) == {"NSE_EQ:1333": fetched}  # now cached
    # A second call within the second: the limiter holds it back; keys are reported missing.
    again = client.get(URL + "?keys=NSE_EQ:11536").json()
    assert again["api_fetched_count"] == 0 and again["missing"] == ["NSE_EQ:11536"]
    assert simulator.rest_calls == 1  # DhanHQ saw one request, not two


def test_rest_fallback_asks_at_most_1000_instruments(settings, simulator):
    settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN = "1000000001", "demo-token"
    settings.DHANHQ_API_URL = f"http://127.0.0.1:{simulator.rest_port}/v2"
    prices = rest.fetch_ltp([f"NSE_EQ:{i}" for i in range(1, 1201)])
    assert len(prices) == 1000 and "NSE_EQ:1000" in prices and "NSE_EQ:1001" not in prices


def test_rest_failure_lists_keys_as_missing(client, settings, simulator):
    settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN = "1000000001", "wrong"
    settings.DHANHQ_API_URL = f"http://127.0.0.1:{simulator.rest_port}/v2"
    body = client.get(URL + "?keys=NSE_EQ:1333").json()
    assert body["missing"] == ["NSE_EQ:1333"] and "wrong" not in str(body)


def test_health_reports_not_running_healthy_stale_and_error(client, settings):
    settings.DEV_MODE = True
    body = client.get("/api/v1/health/market_stream").json()
    assert body["status"] == "not_running" and body["heartbeat_age_seconds"] is None
    assert body["market_open"] is True and body["streams"] == []
    now = datetime.now(UTC)
    Stream.objects.create(
        key="type:swing",
        screener_type="swing",
        state="running",
        last_heartbeat=now,
        last_tick_at=now,
        instruments=["NSE_EQ:1"],
    )
    sink = PriceSink()
    sink.heartbeat()
    body = client.get("/api/v1/health/market_stream").json()
    assert body["status"] == "healthy" and body["heartbeat_age_seconds"] < 5
    assert body["streams"][0]["key"] == "type:swing"
    Stream.objects.update(last_tick_at=now - timedelta(seconds=45))
    assert client.get("/api/v1/health/market_stream").json()["status"] == "stale"
    Stream.objects.update(state="error", last_error="809 access token invalid")
    assert client.get("/api/v1/health/market_stream").json()["status"] == "error"


def test_health_is_stale_when_the_heartbeat_is_old(client, settings):
    settings.DEV_MODE = True
    from django.core.cache import cache

    cache.set("market_stream:heartbeat", (datetime.now(UTC) - timedelta(seconds=90)).isoformat())
    Stream.objects.create(
        key="type:swing", screener_type="swing", state="running", last_tick_at=datetime.now(UTC)
    )
    body = client.get("/api/v1/health/market_stream").json()
    assert body["status"] == "stale" and body["heartbeat_age_seconds"] >= 90
    call_command("stop_stream", "--all")


@pytest.mark.e2e
def test_the_rest_rate_limit_is_shared_across_processes_through_redis(settings, redis_url):
    settings.CACHES = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url}
    }
    settings.REDIS_URL = redis_url
    this_process = rest.CacheRateGate("1000000001")
    other_process = rest.CacheRateGate("1000000001")  # a second web process's gate object
    assert this_process.try_acquire()
    assert not other_process.try_acquire() and not this_process.try_acquire()
    import time

    time.sleep(REST_SPACING_SECONDS + 0.05)
    assert other_process.try_acquire()
