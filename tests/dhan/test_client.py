"""Feed client policy: disconnect classification, backoff, limits, URLs."""

import random

import pytest

from dhan.client import FeedConnection, FeedCredentials, classify_disconnect, feed_url
from dhan.decoder import Decoder
from dhan.errors import (
    FeedAuthError,
    FeedDisconnectedError,
    FeedLimitError,
    FeedRateLimitedError,
    FeedRejectedError,
)
from dhan.packets import Disconnect
from dhan.requests import FeedMode
from dhan.segments import InstrumentKey
from streams.runner import backoff_delay


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        (800, FeedDisconnectedError),
        (804, FeedRejectedError),
        (805, FeedRateLimitedError),
        (806, FeedAuthError),
        (807, FeedAuthError),
        (808, FeedAuthError),
        (809, FeedAuthError),
        (810, FeedAuthError),
        (811, FeedRejectedError),
        (812, FeedRejectedError),
        (813, FeedRejectedError),
        (814, FeedRejectedError),
        (999, FeedDisconnectedError),
    ],
)
def test_disconnect_reasons_are_classified(reason, kind):
    error = classify_disconnect(Disconnect(0, 0, reason))
    assert type(error) is kind and error.reason == reason and str(reason) in str(error)


def test_backoff_is_capped_exponential_with_full_jitter():
    rng = random.Random(5)
    for attempt in range(40):
        ceiling = min(30.0, 0.5 * 2**attempt)
        delays = [backoff_delay(attempt, rng=rng, base=0.5, cap=30.0) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8 and min(delays) < ceiling * 0.2  # full jitter


def test_feed_url_is_the_v2_query_string_and_credentials_hide_the_token():
    assert (
        feed_url("wss://api-feed.dhan.co", client_id="100", access_token="t0k")
        == "wss://api-feed.dhan.co?version=2&token=t0k&clientId=100&authType=2"
    )
    assert "t0k" not in repr(FeedCredentials("wss://x", "100", "t0k"))


async def test_more_than_5000_instruments_on_one_connection_is_refused(simulator, sim_credentials):
    creds = FeedCredentials(f"ws://127.0.0.1:{simulator.port}", *sim_credentials)
    async with FeedConnection(creds, decoder=Decoder()) as conn:
        with pytest.raises(FeedLimitError, match="5001 instruments exceed"):
            await conn.subscribe(
                [InstrumentKey(1, i) for i in range(1, 5002)], mode=FeedMode.TICKER
            )
    assert [r for _, r in simulator.requests] == [{"RequestCode": 12}]  # nothing subscribed


async def test_an_unreachable_feed_is_a_disconnect_without_the_token():
    creds = FeedCredentials("ws://127.0.0.1:9", "100", "secret-token-xyz")
    with pytest.raises(FeedDisconnectedError) as err:
        await FeedConnection(creds, decoder=Decoder()).connect()
    assert "secret-token-xyz" not in str(err.value)
