"""The 20-level depth codec against the official SDK's `FullDepth` (hypothesis), stacked
frames, snapping, fuzzed frames, requests."""

from __future__ import annotations

import json
import threading

import pytest
from dhanhq import DhanContext, FullDepth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dhan.decoder import Decoder, TickGrid
from dhan.depth import (
    DEPTH_PACKET_BYTES,
    DepthDisconnect,
    DepthRow,
    DepthSide,
    decode_depth,
    depth_messages,
    depth_url,
    encode_depth_disconnect,
    encode_depth_side,
)
from dhan.packets import DecodeError
from dhan.segments import InstrumentKey

GRID = TickGrid.of(0.05)


def sdk_depth() -> FullDepth:
    """The SDK's decoder. It sets an event loop on the calling thread, so build it on one
    of its own."""
    box: dict = {}
    thread = threading.Thread(
        target=lambda: box.setdefault("fd", FullDepth(DhanContext("1", "t"), [], 20))
    )
    thread.start()
    thread.join(10)
    return box["fd"]


SDK = sdk_depth()


def sdk_decode(frame: bytes) -> list[dict]:
    """What `FullDepth.get_data` does with a frame: every packet, in order."""
    out, remaining = [], frame
    while remaining:
        update = SDK.process_data(remaining)
        if not update:
            break
        remaining = update.pop("remaining_data", None)
        out.append(update)
    return out


rows = st.lists(
    st.builds(
        DepthRow,
        price=st.integers(0, 2_000_000).map(lambda ticks: GRID.snap(ticks * 0.05)),
        quantity=st.integers(0, 2**32 - 1),
        orders=st.integers(0, 2**32 - 1),
    ),
    min_size=20,
    max_size=20,
)
sides = st.tuples(
    st.sampled_from([1, 2]), st.integers(1, 2**31 - 1), st.sampled_from(["bid", "ask"]), rows
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(sides, min_size=1, max_size=6))
def test_stacked_20_level_packets_decode_as_the_sdk_decodes_them(packets):
    frame = b"".join(
        encode_depth_side(InstrumentKey(seg, sid), side=side, rows=levels, sequence=i)
        for i, (seg, sid, side, levels) in enumerate(packets)
    )
    ours = decode_depth(frame, decoder=Decoder({(s, i): 0.05 for s, i, _, _ in packets}))
    theirs = sdk_decode(frame)
    assert len(ours) == len(theirs) == len(packets)
    for mine, sdk in zip(ours, theirs, strict=True):
        assert (mine.segment, mine.security_id) == (sdk["exchange_segment"], sdk["security_id"])
        assert mine.side == sdk["type"].lower()
        assert [tuple(r) for r in mine.rows] == [
            (d["price"], d["quantity"], d["orders"]) for d in sdk["depth"]
        ]


def test_depth_prices_are_snapped_to_the_tick_grid():
    key = InstrumentKey.parse("NSE_EQ:2885")
    raw = [DepthRow(1612.3500000001 + i * 0.1, 10 * i, i) for i in range(20)]
    (side,) = decode_depth(
        encode_depth_side(key, side="bid", rows=raw), decoder=Decoder({(1, 2885): 0.1})
    )
    assert side == DepthSide(1, 2885, "bid", side.rows)
    assert [r.price for r in side.rows[:3]] == [1612.4, 1612.5, 1612.6]


def test_a_disconnect_packet_carries_its_reason_behind_the_others():
    key = InstrumentKey.parse("NSE_EQ:2885")
    levels = [DepthRow(100.0, 1, 1)] * 20
    frame = encode_depth_side(key, side="ask", rows=levels) + encode_depth_disconnect(805)
    packets = decode_depth(frame, decoder=Decoder())
    assert packets[-1] == DepthDisconnect(805) and packets[0].side == "ask"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=800))
def test_fuzzed_depth_frames_raise_only_the_codecs_error(data):
    try:
        decode_depth(data, decoder=Decoder())
    except DecodeError:
        pass


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"", "empty frame"),
        (b"\x00" * 5, "truncated depth header"),
        (encode_depth_disconnect(805)[:13], "truncated"),
        (b"\x4c\x01\x63" + b"\x00" * 329, "unknown depth response code 99"),
        (b"\x10\x00\x29" + b"\x00" * 13, "declares length 16, expected 332"),
    ],
)
def test_malformed_depth_frames_say_what_is_wrong(frame, error):
    with pytest.raises(DecodeError, match=error):
        decode_depth(frame, decoder=Decoder())


def test_requests_carry_every_instrument_in_one_message_up_to_50():
    keys = [InstrumentKey(1, i) for i in range(1, 51)]
    (message,) = depth_messages(23, keys)
    body = json.loads(message)
    assert body["RequestCode"] == 23 and body["InstrumentCount"] == 50
    assert body["InstrumentList"][0] == {"ExchangeSegment": "NSE_EQ", "SecurityId": "1"}
    with pytest.raises(ValueError, match="51 instruments exceed DhanHQ's 50"):
        depth_messages(23, [*keys, InstrumentKey(1, 99)])
    assert depth_url("wss://x/twentydepth", client_id="1", access_token="t") == (
        "wss://x/twentydepth?token=t&clientId=1&authType=2"
    )
    assert len(encode_depth_side(keys[0], side="bid", rows=[DepthRow(1.0, 1, 1)] * 20)) == (
        DEPTH_PACKET_BYTES
    )
