"""Depth interest across processes (Redis and in-process), the broadcaster's preference for
20-level books, and the depth kind's handling of what it cannot use."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dhan.depth import DepthRow, encode_depth_disconnect, encode_depth_side
from dhan.errors import FeedError
from dhan.segments import InstrumentKey
from prices.broadcast import Broadcaster
from prices.depthwatch import (
    INTEREST_TTL_SECONDS,
    LocalDepthInterest,
    RedisDepthInterest,
)
from prices.quotes import book_from_depth
from streams.depth import DepthKind, depth_keys


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.e2e)])
def interest(request):
    if request.param == "local":
        return LocalDepthInterest()
    return RedisDepthInterest(request.getfixturevalue("redis_server").client())


def test_interest_is_the_union_of_live_processes_and_each_process_owns_its_own(interest, request):
    if isinstance(interest, RedisDepthInterest):
        request.getfixturevalue("redis_url")  # a clean database
    interest.mark("web1", ["NSE_EQ:2885", "NSE_EQ:11536"])
    interest.mark("web2", ["NSE_EQ:2885"])
    assert interest.watched() == {"NSE_EQ:2885", "NSE_EQ:11536"}
    interest.mark("web1", [])  # web1's clients left; web2 still watches RELIANCE
    assert interest.watched() == {"NSE_EQ:2885"}
    # A process that stops refreshing (it died) is forgotten when its members lapse.
    assert interest.watched(now=time.time() + INTEREST_TTL_SECONDS + 1) == set()


def test_only_nse_equities_and_derivatives_fifty_at_most_go_to_the_depth_socket():
    watched = {"BSE_EQ:500325", "IDX_I:13", "NSE_FNO:35001", "garbage"} | {
        f"NSE_EQ:{1000 + i}" for i in range(60)
    }
    keys = depth_keys(watched)
    assert len(keys) == 50
    assert {k.segment_name for k in keys} <= {"NSE_EQ", "NSE_FNO"}


def book(source: str, levels: int) -> dict:
    rows = [(100.0 - i * 0.05, 10, 1) for i in range(levels)]
    record = book_from_depth(rows, rows, ts=1.0)
    return {**record, "levels": levels, "source": source}


def test_the_broadcaster_prefers_twenty_levels_while_the_depth_socket_serves_a_key():
    b = Broadcaster()
    message = {"type": "ltp_batch", "ts": 1, "prices": {}}
    b.merge(json.dumps({**message, "depth": {"NSE_EQ:1": book("depth20", 20)}}))
    b.merge(json.dumps({**message, "depth": {"NSE_EQ:1": book("full", 5)}}))
    b.merge(json.dumps({**message, "depth": {"NSE_EQ:2": book("full", 5)}}))
    depth = b._records["depth"]
    assert depth["NSE_EQ:1"]["source"] == "depth20"  # the 5 levels did not replace it
    assert depth["NSE_EQ:2"]["source"] == "full"  # no 20-level book of this key


class Upstream:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list]] = []

    async def subscribe(self, keys):
        self.sent.append(("subscribe", [str(k) for k in keys]))

    async def unsubscribe(self, keys):
        self.sent.append(("unsubscribe", [str(k) for k in keys]))


def kind(interest: LocalDepthInterest | None = None) -> DepthKind:
    from dhan.client import FeedCredentials

    class Sink:
        def __init__(self) -> None:
            self.books: dict = {}

        def put_books(self, books):
            self.books.update(books)

    return DepthKind(
        credentials=FeedCredentials("ws://127.0.0.1:9", "1", "t"),
        interest=interest or LocalDepthInterest(),  # nobody watches
        sink=Sink(),
        idle_seconds=0,
        lookup_ticks=lambda keys: {},
    )


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=700))
def test_fuzzed_depth_frames_are_counted_never_raised(frame):
    k = kind()
    try:
        k.take(frame)
    except FeedError as exc:  # a well-formed disconnect packet: the one thing that may end it
        assert "disconnected the depth feed" in str(exc)
    assert k.malformed in (0, 1)


def test_the_depth_kind_follows_its_watchers_and_keeps_only_their_books():
    import asyncio

    interest = LocalDepthInterest()
    interest.mark("web1", ["NSE_EQ:2885", "NSE_EQ:11536"])
    k, upstream = kind(interest), Upstream()
    assert k.control() is None
    asyncio.run(k.subscribe(upstream))
    assert upstream.sent == [("subscribe", ["NSE_EQ:2885", "NSE_EQ:11536"])]
    interest.mark("web1", ["NSE_EQ:2885"])
    k.control()
    asyncio.run(k.maintain(upstream))
    assert upstream.sent[-1] == ("unsubscribe", ["NSE_EQ:11536"])
    rows = [DepthRow(100.0 - i * 0.05, 5, 1) for i in range(20)]
    for key in ("NSE_EQ:2885", "NSE_EQ:11536"):  # the second arrives after its unsubscribe
        for side in ("bid", "ask"):
            k.take(encode_depth_side(InstrumentKey.parse(key), side=side, rows=rows))
    assert k.collect() and set(k.sink.books) == {"NSE_EQ:2885"}
    interest.mark("web1", [])
    assert k.control() == "no depth watchers"  # idle_seconds=0


def test_a_disconnect_packet_ends_the_depth_connection_and_books_need_both_sides():
    import asyncio

    interest = LocalDepthInterest()
    interest.mark("web1", ["NSE_EQ:2885"])
    k = kind(interest)
    k.control()
    asyncio.run(k.subscribe(Upstream()))
    key = InstrumentKey.parse("NSE_EQ:2885")
    rows = [DepthRow(100.0 - i * 0.05, 5, 1) for i in range(20)]
    k.take(encode_depth_side(key, side="bid", rows=rows))
    assert not k.collect()  # half a book is not a book
    k.take(encode_depth_side(key, side="ask", rows=rows))
    assert k.collect() and k.sink.books["NSE_EQ:2885"]["levels"] == 20
    with pytest.raises(FeedError, match="807"):
        k.take(encode_depth_disconnect(807))
