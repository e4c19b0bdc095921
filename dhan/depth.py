"""DhanHQ's 20-level market depth feed as a pure codec: JSON requests (code 23, up to 50
instruments) and the binary responses. A response packet has a 12-byte little-endian header
`<hBBiI` (length, code 41 bid or 51 ask or 50 disconnect, segment, security id, a sequence
number) and then 20 rows `<dII` (float64 price, uint32 quantity, uint32 orders); a frame may
carry several packets, bid and ask of several instruments. Prices are snapped to the
instrument's tick grid like the market feed's.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence
from typing import NamedTuple
from urllib.parse import urlencode

from dhan.decoder import Decoder
from dhan.limits import DEPTH_LEVELS, MAX_DEPTH_INSTRUMENTS_PER_CONNECTION
from dhan.packets import DecodeError, frame_length
from dhan.segments import InstrumentKey
from dhan.ticks import TickGrid

DEPTH_HEADER = struct.Struct("<hBBiI")
DEPTH_ROW = struct.Struct("<dII")
DEPTH_DISCONNECT_REASON = struct.Struct("<h")
BID, ASK, DISCONNECT = 41, 51, 50
SIDES = {BID: "bid", ASK: "ask"}
DEPTH_PACKET_BYTES = DEPTH_HEADER.size + DEPTH_LEVELS * DEPTH_ROW.size  # 332
DEPTH_DISCONNECT_BYTES = DEPTH_HEADER.size + DEPTH_DISCONNECT_REASON.size  # 14
SUBSCRIBE_DEPTH = 23
# DhanHQ's annexure says 25 and the SDK sends 24: we send 24, the simulator takes both.
UNSUBSCRIBE_DEPTH = 24
UNSUBSCRIBE_DEPTH_CODES = frozenset({24, 25})


class DepthRow(NamedTuple):
    price: float
    quantity: int
    orders: int


class DepthSide(NamedTuple):
    """One side of one instrument's book, best first as DhanHQ sends it."""

    segment: int
    security_id: int
    side: str  # "bid" or "ask"
    rows: tuple[DepthRow, ...]


class DepthDisconnect(NamedTuple):
    reason: int


def depth_url(base: str, *, client_id: str, access_token: str) -> str:
    """The depth feed URL; the token is in the query string, so never log this."""
    query = urlencode({"token": access_token, "clientId": client_id, "authType": 2})
    return f"{base}?{query}"


def depth_messages(code: int, keys: Sequence[InstrumentKey]) -> list[str]:
    """Subscribe (23) or unsubscribe (24) requests, all instruments in one message (DhanHQ
    allows 50 per connection, and all 50 in one message)."""
    keys = list(dict.fromkeys(keys))
    if len(keys) > MAX_DEPTH_INSTRUMENTS_PER_CONNECTION:
        raise ValueError(
            f"{len(keys)} instruments exceed DhanHQ's {MAX_DEPTH_INSTRUMENTS_PER_CONNECTION} "
            "per depth connection"
        )
    instruments = [
        {"ExchangeSegment": k.segment_name, "SecurityId": str(k.security_id)} for k in keys
    ]
    body = {"RequestCode": code, "InstrumentCount": len(keys), "InstrumentList": instruments}
    return [json.dumps(body)] if keys else []


def decode_depth(frame: bytes, *, decoder: Decoder) -> list[DepthSide | DepthDisconnect]:
    """Every packet of one frame; raises DecodeError for anything malformed (nothing of a bad
    frame is returned)."""
    end = frame_length(frame)
    out: list[DepthSide | DepthDisconnect] = []
    offset = 0
    while offset < end:
        if end - offset < DEPTH_HEADER.size:
            raise DecodeError(f"truncated depth header at byte {offset}")
        length, code, segment, security_id, _ = DEPTH_HEADER.unpack_from(frame, offset)
        if code == DISCONNECT:
            _expect(length, DEPTH_DISCONNECT_BYTES, code, offset, end)
            out.append(DepthDisconnect(DEPTH_DISCONNECT_REASON.unpack_from(frame, offset + 12)[0]))
        elif code in SIDES:
            _expect(length, DEPTH_PACKET_BYTES, code, offset, end)
            rows = _rows(frame, offset, decoder.grid(segment, security_id))
            out.append(DepthSide(segment, security_id, SIDES[code], rows))
        else:
            raise DecodeError(f"unknown depth response code {code} at byte {offset}")
        offset += length
    return out


def _expect(length: int, size: int, code: int, offset: int, end: int) -> None:
    if length != size:
        raise DecodeError(f"depth code {code} declares length {length}, expected {size}")
    if end - offset < size:
        raise DecodeError(f"truncated depth code-{code} packet at byte {offset}")


def _rows(frame: bytes, offset: int, grid: TickGrid) -> tuple[DepthRow, ...]:
    rows = []
    for i in range(DEPTH_LEVELS):
        price, quantity, orders = DEPTH_ROW.unpack_from(frame, offset + 12 + i * DEPTH_ROW.size)
        if price - price != 0.0:  # NaN or infinity
            raise DecodeError(f"non-finite depth price in packet at byte {offset}")
        rows.append(DepthRow(grid.snap(price) if price else 0.0, quantity, orders))
    return tuple(rows)


def encode_depth_side(
    key: InstrumentKey, *, side: str, rows: Iterable[DepthRow], sequence: int = 0
) -> bytes:
    """One 332-byte packet (the simulator's side, and test fixtures)."""
    rows = list(rows)
    if len(rows) != DEPTH_LEVELS:
        raise ValueError(f"a 20-level packet has {DEPTH_LEVELS} rows, got {len(rows)}")
    code = BID if side == "bid" else ASK
    head = DEPTH_HEADER.pack(DEPTH_PACKET_BYTES, code, key.segment, key.security_id, sequence)
    return head + b"".join(DEPTH_ROW.pack(*row) for row in rows)


def encode_depth_disconnect(reason: int, key: InstrumentKey | None = None) -> bytes:
    key = key or InstrumentKey(0, 0)
    head = DEPTH_HEADER.pack(DEPTH_DISCONNECT_BYTES, DISCONNECT, key.segment, key.security_id, 0)
    return head + DEPTH_DISCONNECT_REASON.pack(reason)
