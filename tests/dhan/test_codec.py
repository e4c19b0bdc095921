"""The DhanHQ v2 codec: requests, every response packet, and the SDK as an oracle."""

from __future__ import annotations

import json
import struct
from decimal import Decimal

import pytest
from dhanhq import DhanContext, MarketFeed
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from dhan.decoder import Decoder, TickGrid
from dhan.packets import (
    PACKET_SIZES,
    DecodeError,
    DepthLevel,
    Disconnect,
    Full,
    MarketStatus,
    OpenInterest,
    PrevClose,
    Quote,
    Ticker,
    encode_disconnect,
    encode_full,
    encode_market_status,
    encode_oi,
    encode_prev_close,
    encode_quote,
    encode_ticker,
)
from dhan.requests import (
    FeedMode,
    RequestError,
    disconnect_message,
    parse_request,
    subscribe_messages,
    unsubscribe_messages,
)
from dhan.scanner import LtpScanner
from dhan.segments import InstrumentKey

RELIANCE = InstrumentKey.parse("NSE_EQ:2885")
SEGMENTS = [0, 1, 2, 3, 4, 5, 7, 8]


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


# --- requests -----------------------------------------------------------------------


def test_subscribe_batches_at_most_100_instruments_in_order_without_duplicates():
    keys = [InstrumentKey(1, i) for i in range(1, 251)] + [InstrumentKey(1, 5)]
    messages = [json.loads(m) for m in subscribe_messages(keys, mode=FeedMode.QUOTE)]
    assert [m["InstrumentCount"] for m in messages] == [100, 100, 50]
    assert all(m["RequestCode"] == 17 for m in messages)
    ids = [i["SecurityId"] for m in messages for i in m["InstrumentList"]]
    assert ids == [str(i) for i in range(1, 251)]
    assert messages[0]["InstrumentList"][0] == {"ExchangeSegment": "NSE_EQ", "SecurityId": "1"}


@pytest.mark.parametrize(
    ("mode", "sub", "unsub"),
    [(FeedMode.TICKER, 15, 16), (FeedMode.QUOTE, 17, 18), (FeedMode.FULL, 21, 22)],
)
def test_request_codes_per_mode(mode, sub, unsub):
    assert json.loads(subscribe_messages([RELIANCE], mode=mode)[0])["RequestCode"] == sub
    assert json.loads(unsubscribe_messages([RELIANCE], mode=mode)[0])["RequestCode"] == unsub


def test_disconnect_request_is_code_12_and_parses_as_none():
    assert json.loads(disconnect_message()) == {"RequestCode": 12}
    assert parse_request(disconnect_message()) is None


def test_parse_request_round_trips_and_rejects_bad_requests():
    request = parse_request(subscribe_messages([RELIANCE], mode=FeedMode.FULL)[0])
    assert request.keys == (RELIANCE,) and request.mode is FeedMode.FULL and request.is_subscribe
    with pytest.raises(RequestError):
        parse_request("not json")
    with pytest.raises(RequestError):
        parse_request('{"RequestCode": 99}')
    too_many = {
        "RequestCode": 15,
        "InstrumentCount": 101,
        "InstrumentList": [{"ExchangeSegment": "NSE_EQ", "SecurityId": str(i)} for i in range(101)],
    }
    with pytest.raises(RequestError) as err:
        parse_request(json.dumps(too_many))
    assert err.value.reason == 804


# --- responses ----------------------------------------------------------------------


def sample_full(key: InstrumentKey, ltp: float = 1612.35) -> Full:
    depth = tuple(
        DepthLevel(
            100 + i,
            200 + i,
            1 + i,
            2 + i,
            round(ltp - 0.05 * (i + 1), 2),
            round(ltp + 0.05 * (i + 1), 2),
        )
        for i in range(5)
    )
    return Full(
        key.segment,
        key.security_id,
        ltp,
        7,
        1_700_000_107,
        1610.2,
        987_654,
        1111,
        2222,
        5_000_000,
        5_100_000,
        4_900_000,
        1600.0,
        1598.5,
        1620.45,
        1590.1,
        depth,
    )


def test_every_packet_type_decodes_with_prices_on_the_tick_grid():
    quote = Quote(
        1,
        2885,
        1612.35,
        7,
        1_700_000_107,
        1610.2,
        987_654,
        1111,
        2222,
        1600.0,
        1598.5,
        1620.45,
        1590.1,
    )
    frame = b"".join(
        [
            encode_ticker(RELIANCE, ltp=1612.35, ltt=1_700_000_107),
            encode_quote(quote),
            encode_oi(RELIANCE, oi=42),
            encode_prev_close(RELIANCE, prev_close=1598.5, prev_oi=3),
            encode_market_status(RELIANCE),
            encode_full(sample_full(RELIANCE)),
            encode_disconnect(807),
        ]
    )
    packets = Decoder({(1, 2885): 0.05}).decode(frame)
    assert packets[0] == Ticker(1, 2885, 1612.35, 1_700_000_107)
    assert packets[1] == quote
    assert packets[2] == OpenInterest(1, 2885, 42)
    assert packets[3] == PrevClose(1, 2885, 1598.5, 3)
    assert packets[4] == MarketStatus(1, 2885)
    assert packets[5] == sample_full(RELIANCE)
    assert packets[6] == Disconnect(0, 0, 807) and packets[6].description == "access token expired"


def test_tick_grid_of_rupee_and_paise_sizes():
    assert TickGrid.of(0.05).snap(f32(1612.35)) == 1612.35
    assert TickGrid.of(5).snap(f32(152345.0)) == 152345.0
    assert TickGrid.of(0.0025).snap(f32(83.1225)) == 83.1225
    assert repr(TickGrid.of(0.10).snap(f32(1520.3))) == "1520.3"


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x02",
        encode_ticker(RELIANCE, ltp=1.0, ltt=0)[:15],
        encode_ticker(RELIANCE, ltp=1.0, ltt=0) + b"\x02\x10\x00",
        b"\x01" + b"\x00" * 15,  # code 1 (index packet) has no documented layout
        struct.pack("<BHBI", 2, 50, 1, 2885) + b"\x00" * 8,  # length field disagrees with the code
        struct.pack("<BHBIfI", 2, 16, 1, 2885, float("nan"), 0),
    ],
)
def test_malformed_frames_raise_decode_error(frame):
    with pytest.raises(DecodeError):
        Decoder().decode(frame)


def test_text_frames_are_a_decode_error():
    with pytest.raises(DecodeError):
        Decoder().decode("ping")


# --- the SDK as an oracle -----------------------------------------------------------


@pytest.fixture(scope="module")
def sdk():
    feed = MarketFeed(DhanContext("1000000001", "x"), [], version="v2")
    feed.on_close = None
    yield feed
    feed.loop.close()


prices_below_2_17 = st.integers(1, 131_071 * 20).map(lambda n: n / 20)  # 0.05 grid
ints32 = st.integers(0, 2**31 - 1)
ints16 = st.integers(0, 2**15 - 1)
keys = st.builds(InstrumentKey, st.sampled_from(SEGMENTS), st.integers(1, 2**31 - 1))


def sdk_price(value: float) -> str:
    return f"{value:.2f}"


def compare(ours, sdk_dict, fields):
    for our_name, sdk_name, kind in fields:
        value = getattr(ours, our_name)
        expected = sdk_dict[sdk_name]
        if kind == "price":
            assert sdk_price(value) == expected, (our_name, value, expected)
        elif kind == "time":
            from datetime import UTC, datetime

            assert datetime.fromtimestamp(value, UTC).strftime("%H:%M:%S") == expected
        else:
            assert value == expected, (our_name, value, expected)


COMMON = [("segment", "exchange_segment", "int"), ("security_id", "security_id", "int")]
QUOTE_FIELDS = COMMON + [
    ("ltp", "LTP", "price"),
    ("ltq", "LTQ", "int"),
    ("ltt", "LTT", "time"),
    ("avg_price", "avg_price", "price"),
    ("volume", "volume", "int"),
    ("total_sell_quantity", "total_sell_quantity", "int"),
    ("total_buy_quantity", "total_buy_quantity", "int"),
    ("open", "open", "price"),
    ("close", "close", "price"),
    ("high", "high", "price"),
    ("low", "low", "price"),
]
HYPOTHESIS = settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@HYPOTHESIS
@given(key=keys, ltp=prices_below_2_17, ltt=ints32)
def test_ticker_and_prev_close_agree_with_sdk(sdk, key, ltp, ltt):
    decoder = Decoder({(key.segment, key.security_id): 0.05})
    frame = encode_ticker(key, ltp=ltp, ltt=ltt)
    compare(
        decoder.decode(frame)[0],
        sdk.process_data(frame),
        COMMON + [("ltp", "LTP", "price"), ("ltt", "LTT", "time")],
    )
    frame = encode_prev_close(key, prev_close=ltp, prev_oi=ltt)
    compare(
        decoder.decode(frame)[0],
        sdk.process_data(frame),
        COMMON + [("prev_close", "prev_close", "price"), ("prev_oi", "prev_OI", "int")],
    )


@HYPOTHESIS
@given(
    key=keys,
    p=st.lists(prices_below_2_17, min_size=6, max_size=6),
    ltq=ints16,
    n=st.lists(ints32, min_size=4, max_size=4),
)
def test_quote_agrees_with_sdk(sdk, key, p, ltq, n):
    quote = Quote(
        key.segment,
        key.security_id,
        p[0],
        ltq,
        n[0],
        p[1],
        n[1],
        n[2],
        n[3],
        p[2],
        p[3],
        p[4],
        p[5],
    )
    frame = encode_quote(quote)
    ours = Decoder({(key.segment, key.security_id): 0.05}).decode(frame)[0]
    assert ours == quote
    compare(ours, sdk.process_data(frame), QUOTE_FIELDS)


@HYPOTHESIS
@given(
    key=keys,
    p=st.lists(prices_below_2_17, min_size=16, max_size=16),
    ltq=ints16,
    n=st.lists(ints32, min_size=7, max_size=7),
    q=st.lists(ints32, min_size=10, max_size=10),
    o=st.lists(ints16, min_size=10, max_size=10),
)
def test_full_with_depth_agrees_with_sdk(sdk, key, p, ltq, n, q, o):
    depth = tuple(
        DepthLevel(q[2 * i], q[2 * i + 1], o[2 * i], o[2 * i + 1], p[6 + 2 * i], p[7 + 2 * i])
        for i in range(5)
    )
    full = Full(
        key.segment,
        key.security_id,
        p[0],
        ltq,
        n[0],
        p[1],
        n[1],
        n[2],
        n[3],
        n[4],
        n[5],
        n[6],
        p[2],
        p[3],
        p[4],
        p[5],
        depth,
    )
    frame = encode_full(full)
    ours = Decoder({(key.segment, key.security_id): 0.05}).decode(frame)[0]
    assert ours == full
    theirs = sdk.process_data(frame)
    compare(
        ours,
        theirs,
        QUOTE_FIELDS
        + [
            ("oi", "OI", "int"),
            ("oi_day_high", "oi_day_high", "int"),
            ("oi_day_low", "oi_day_low", "int"),
        ],
    )
    for level, sdk_level in zip(ours.depth, theirs["depth"], strict=True):
        compare(
            level,
            sdk_level,
            [(f, f, "int") for f in ("bid_quantity", "ask_quantity", "bid_orders", "ask_orders")]
            + [("bid_price", "bid_price", "price"), ("ask_price", "ask_price", "price")],
        )


@HYPOTHESIS
@given(key=keys, oi=ints32, reason=st.integers(800, 814))
def test_oi_status_and_disconnect_agree_with_sdk(sdk, key, oi, reason):
    decoder = Decoder()
    frame = encode_oi(key, oi=oi)
    compare(decoder.decode(frame)[0], sdk.process_data(frame), COMMON + [("oi", "OI", "int")])
    frame = encode_market_status(key)
    assert sdk.process_data(frame) == "Markets Open"  # the SDK says this whatever was sent
    assert decoder.decode(frame) == [MarketStatus(key.segment, key.security_id)]
    frame = encode_disconnect(reason, key)
    assert sdk.process_data(frame) is None  # the SDK drops the reason code
    assert decoder.decode(frame)[0].reason == reason


@HYPOTHESIS
@given(ticks=st.lists(st.tuples(keys, prices_below_2_17), min_size=2, max_size=30))
def test_several_packets_in_one_frame_all_decode_where_the_sdk_sees_one(sdk, ticks):
    frame = b"".join(encode_ticker(k, ltp=p, ltt=0) for k, p in ticks)
    decoded = Decoder({(k.segment, k.security_id): 0.05 for k, _ in ticks}).decode(frame)
    assert [(p.segment, p.security_id, p.ltp) for p in decoded] == [
        (k.segment, k.security_id, p) for k, p in ticks
    ]
    assert sdk.process_data(frame)["security_id"] == ticks[0][0].security_id  # the rest is lost


@HYPOTHESIS
@given(n=st.integers(131_072 * 20, 524_287 * 20))
@example(n=131_072 * 20 + 2)  # 1,31,072.10: float32 holds 131072.09375, the SDK says .09
def test_float32_prices_up_to_5_24_288_are_exact_where_2_decimal_rounding_is_wrong(sdk, n):
    exact = Decimal(n) / 20
    frame = encode_ticker(RELIANCE, ltp=float(exact), ltt=0)
    ours = Decoder({(1, 2885): 0.05}).decode(frame)[0].ltp
    assert Decimal(repr(ours)) == exact


def test_the_sdk_gets_paise_wrong_above_1_31_072(sdk):
    frame = encode_ticker(RELIANCE, ltp=131072.10, ltt=0)
    assert sdk.process_data(frame)["LTP"] == "131072.09"
    assert Decoder({(1, 2885): 0.05}).decode(frame)[0].ltp == 131072.10


# --- fuzzing ------------------------------------------------------------------------


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_decode_error(data):
    try:
        packets = Decoder().decode(data)
    except DecodeError:
        return
    assert sum(PACKET_SIZES[_code(p)] for p in packets) == len(data)


def _code(packet) -> int:
    return {
        Ticker: 2,
        Quote: 4,
        OpenInterest: 5,
        PrevClose: 6,
        MarketStatus: 7,
        Full: 8,
        Disconnect: 50,
    }[type(packet)]


VALID_FRAMES = [
    encode_ticker(RELIANCE, ltp=1612.35, ltt=1),
    encode_quote(Quote(1, 2885, 1.0, 1, 1, 1.0, 1, 1, 1, 1.0, 1.0, 1.0, 1.0)),
    encode_full(sample_full(RELIANCE)),
    encode_oi(RELIANCE, oi=1),
    encode_prev_close(RELIANCE, prev_close=1.0),
    encode_disconnect(805),
]


@settings(max_examples=2000, deadline=None)
@given(
    frames=st.lists(st.sampled_from(VALID_FRAMES), min_size=1, max_size=4),
    cut=st.integers(1, 400),
    noise=st.binary(max_size=7),
)
def test_truncated_or_extended_frames_raise_only_decode_error(frames, cut, noise):
    whole = b"".join(frames)
    boundaries = {sum(len(f) for f in frames[:i]) for i in range(len(frames) + 1)}
    assume(cut < len(whole) and cut not in boundaries)
    for data in (whole[:cut], whole + noise if noise else whole[:-1]):
        with pytest.raises(DecodeError):
            Decoder().decode(data)


# --- the feed's hot path ------------------------------------------------------------

price_frames = st.lists(
    st.tuples(st.sampled_from([2, 4, 8, 6]), st.integers(1, 40), prices_below_2_17),
    min_size=1,
    max_size=40,
)


def _frame(code: int, sid: int, price: float) -> bytes:
    key = InstrumentKey(1, sid)
    if code == 2:
        return encode_ticker(key, ltp=price, ltt=0)
    if code == 6:
        return encode_prev_close(key, prev_close=price)
    if code == 4:
        return encode_quote(Quote(1, sid, price, 1, 1, price, 1, 1, 1, price, price, price, price))
    return encode_full(sample_full(key, ltp=price))


@settings(max_examples=500, deadline=None)
@given(frames=price_frames, pack=st.booleans())
def test_scanner_keeps_the_latest_ltp_per_key_exactly_as_the_decoder_decodes_it(frames, pack):
    decoder = Decoder({(1, sid): 0.05 for sid in range(1, 41)})
    scanner = LtpScanner(decoder)
    encoded = [_frame(*f) for f in frames]
    for frame in [b"".join(encoded)] if pack else encoded:
        assert scanner.scan(frame) is None
    expected, closes = {}, {}
    for frame in encoded:
        for packet in decoder.decode(frame):
            if isinstance(packet, PrevClose):
                closes[f"NSE_EQ:{packet.security_id}"] = packet.prev_close
            else:
                expected[f"NSE_EQ:{packet.security_id}"] = packet.ltp
    assert scanner.drain() == expected
    assert scanner.drain_prev_close() == closes
    assert scanner.packets == sum(1 for f in frames if f[0] != 6)
    assert scanner.drain() == {}


def test_scanner_reports_disconnects_and_rejects_what_the_decoder_rejects():
    scanner = LtpScanner(Decoder())
    assert scanner.scan(encode_disconnect(807)).reason == 807
    for frame in (
        b"",
        b"\x02" * 15,
        encode_ticker(RELIANCE, ltp=1.0, ltt=0)[:-1],
        b"\x63" * 16,
        encode_ticker(RELIANCE, ltp=1.0, ltt=0) * 2 + b"\x02",
    ):
        with pytest.raises(DecodeError):
            scanner.scan(frame)
    assert scanner.drain() == {}  # nothing from a bad frame was kept
    # A frame of one price packet is checked when drained: a bad one is dropped and counted.
    assert scanner.scan(encode_ticker(RELIANCE, ltp=1612.35, ltt=0)) is None
    scanner.drain()
    for bad in (
        struct.pack("<BHBIfI", 2, 16, 1, 2885, float("inf"), 0),
        struct.pack("<BHBIfI", 2, 16, 1, 2885, float("nan"), 0),
    ):
        scanner.scan(bad)
        assert scanner.drain() == {}
    assert scanner.malformed == 2
    with pytest.raises(DecodeError):  # a length field that disagrees with the code
        scanner.scan(struct.pack("<BHBIfI", 2, 99, 1, 2885, 1612.4, 0))


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=200))
def test_scanner_on_random_bytes_raises_only_decode_error(data):
    try:
        LtpScanner(Decoder()).scan(data)
    except DecodeError:
        pass
