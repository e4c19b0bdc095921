"""The price cache in both backends: what one flush writes and what pages read back."""

import json

import pytest

from prices.cache import LocalPriceStore, RedisPriceStore, redis_client
from prices.sink import PriceSink


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.e2e), "embedded"])
def store(request):
    if request.param == "embedded":
        return LocalPriceStore()
    return RedisPriceStore(redis_client(request.getfixturevalue("redis_url")))


def test_one_flush_writes_live_last_and_previous_close(store):
    messages = []
    if isinstance(store, LocalPriceStore):
        store.listeners.append(messages.append)
    else:
        pubsub = store.client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe("live_ltp_updates")
    sink = PriceSink(store=store, ttl_seconds=30, clock=lambda: 1_700_000_000.5)
    for price in (1519.0, 1519.5, 1519.9):  # coalesced: the last one wins
        sink.put("NSE_EQ:2885", price)
    sink.put("IDX_I:13", 26150.05)
    sink.put_prev_closes({"NSE_EQ:2885": 1500.0})
    assert sink.flush() == 2 and sink.flush() == 0
    assert store.read(["NSE_EQ:2885", "IDX_I:13", "NSE_EQ:1"]) == {
        "NSE_EQ:2885": 1519.9,
        "IDX_I:13": 26150.05,
    }
    quotes = store.read_quotes(["NSE_EQ:2885", "NSE_EQ:1"])
    assert quotes.live == quotes.last == {"NSE_EQ:2885": 1519.9}
    assert quotes.prev_close == {"NSE_EQ:2885": 1500.0}
    if isinstance(store, RedisPriceStore):
        assert store.client.get("ltp:NSE_EQ:2885") == b"1519.9"
        assert 0 < store.client.ttl("ltp:NSE_EQ:2885") <= 30
        message = None
        for _ in range(50):
            message = pubsub.get_message(timeout=0.1)
            if message:
                break
        messages.append(message["data"])
    assert json.loads(messages[0]) == {
        "type": "ltp_batch",
        "ts": 1_700_000_000.5,
        "prices": {"NSE_EQ:2885": 1519.9, "IDX_I:13": 26150.05},
    }
