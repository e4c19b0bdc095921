"""DhanHQ v2 market feed, server side: the little-endian binary response packets (an
8-byte header: code, length, segment, security id), their framing and their encoders (the
simulator's side, and test fixtures). Pure; decoding with tick snapping is `dhan.decoder`.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from dhan.limits import DISCONNECT_REASONS
from dhan.segments import InstrumentKey


class DecodeError(ValueError):
    """A frame that is not a well-formed sequence of DhanHQ v2 response packets."""


# --- responses ----------------------------------------------------------------------


# Packets are NamedTuples: immutable like frozen dataclasses, and several times cheaper to
# build, which matters at tens of thousands of packets per second.


class Ticker(NamedTuple):
    segment: int
    security_id: int
    ltp: float
    ltt: int  # epoch seconds as sent


class PrevClose(NamedTuple):
    segment: int
    security_id: int
    prev_close: float
    prev_oi: int


class Quote(NamedTuple):
    segment: int
    security_id: int
    ltp: float
    ltq: int
    ltt: int
    avg_price: float
    volume: int
    total_sell_quantity: int
    total_buy_quantity: int
    open: float
    close: float
    high: float
    low: float


class OpenInterest(NamedTuple):
    segment: int
    security_id: int
    oi: int


class MarketStatus(NamedTuple):
    segment: int
    security_id: int


class DepthLevel(NamedTuple):
    bid_quantity: int
    ask_quantity: int
    bid_orders: int
    ask_orders: int
    bid_price: float
    ask_price: float


class Full(NamedTuple):
    segment: int
    security_id: int
    ltp: float
    ltq: int
    ltt: int
    avg_price: float
    volume: int
    total_sell_quantity: int
    total_buy_quantity: int
    oi: int
    oi_day_high: int
    oi_day_low: int
    open: float
    close: float
    high: float
    low: float
    depth: tuple[DepthLevel, ...]


class Disconnect(NamedTuple):
    segment: int
    security_id: int
    reason: int

    @property
    def description(self) -> str:
        return DISCONNECT_REASONS.get(self.reason, "unknown reason")


Packet = Ticker | PrevClose | Quote | OpenInterest | MarketStatus | Full | Disconnect

# Whole packets, header included; sizes are fixed per response code.
HEADER_STRUCT = struct.Struct("<BHBI")
TICKER_STRUCT = struct.Struct("<BHBIfI")  # also prev close: float32 price, int32
QUOTE_STRUCT = struct.Struct("<BHBIfHIfIIIffff")
OI_STRUCT = struct.Struct("<BHBII")
FULL_STRUCT = struct.Struct("<BHBIfHIfIIIIIIffff" + "IIHHff" * 5)
DISCONNECT_STRUCT = struct.Struct("<BHBIH")

PACKET_SIZES: dict[int, int] = {2: 16, 4: 50, 5: 12, 6: 16, 7: 8, 8: 162, 50: 10}


new_tuple = tuple.__new__  # builds NamedTuples without their Python-level __new__ (hot path)


def frame_length(frame: object) -> int:
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise DecodeError(f"expected a binary frame, got {type(frame).__name__}")
    if len(frame) == 0:
        raise DecodeError("empty frame")
    return len(frame)


def packet_at(frame: bytes, offset: int, end: int) -> tuple[int, int]:
    """(code, size) of the packet at `offset`, its framing checked: known code, whole
    packet present, length field matching the code."""
    if end - offset < 8:
        raise DecodeError(f"truncated header at byte {offset}")
    code = frame[offset]
    size = PACKET_SIZES.get(code)
    if size is None:
        raise DecodeError(f"unknown response code {code} at byte {offset}")
    if end - offset < size:
        raise DecodeError(f"truncated code-{code} packet at byte {offset}")
    length = HEADER_STRUCT.unpack_from(frame, offset)[1]
    if length != size:
        raise DecodeError(f"code {code} declares length {length}, expected {size}")
    return code, size


# --- encoding (the simulator's side, and test fixtures) -----------------------------


def _header(code: int, key: InstrumentKey) -> bytes:
    return HEADER_STRUCT.pack(code, PACKET_SIZES[code], key.segment, key.security_id)


def encode_ticker(key: InstrumentKey, *, ltp: float, ltt: int) -> bytes:
    return TICKER_STRUCT.pack(2, 16, key.segment, key.security_id, ltp, ltt)


def encode_prev_close(key: InstrumentKey, *, prev_close: float, prev_oi: int = 0) -> bytes:
    return TICKER_STRUCT.pack(6, 16, key.segment, key.security_id, prev_close, prev_oi)


def encode_quote(p: Quote) -> bytes:
    return QUOTE_STRUCT.pack(4, PACKET_SIZES[4], *p)


def encode_oi(key: InstrumentKey, *, oi: int) -> bytes:
    return OI_STRUCT.pack(5, PACKET_SIZES[5], key.segment, key.security_id, oi)


def encode_market_status(key: InstrumentKey) -> bytes:
    return _header(7, key)


def encode_full(p: Full) -> bytes:
    depth = [value for level in p.depth for value in level]
    return FULL_STRUCT.pack(8, PACKET_SIZES[8], p.segment, p.security_id, *p[2:16], *depth)


def encode_disconnect(reason: int, key: InstrumentKey | None = None) -> bytes:
    key = key or InstrumentKey(0, 0)
    return DISCONNECT_STRUCT.pack(50, PACKET_SIZES[50], key.segment, key.security_id, reason)
