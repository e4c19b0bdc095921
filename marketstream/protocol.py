"""DhanHQ v2 live market feed: the wire protocol as a pure codec (no I/O).

Requests are JSON text frames; responses are little-endian binary packets that start with
an 8-byte header (code, length, segment, security id). Used by the feed client, the
simulator and the tests; see shared/reference/dhanhq-sdk.md for the byte layouts.
"""
from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

from prices.keys import (
    SEGMENT_CODES,
    SEGMENT_NAMES,
    InstrumentKey,
    InstrumentKeyError,
)

__all__ = ["SEGMENT_CODES", "SEGMENT_NAMES", "InstrumentKey", "InstrumentKeyError"]

MAX_INSTRUMENTS_PER_MESSAGE = 100
MAX_INSTRUMENTS_PER_CONNECTION = 5000


class DecodeError(ValueError):
    """A frame that is not a well-formed sequence of DhanHQ v2 response packets."""


class FeedMode(IntEnum):
    """Subscription modes; the value is the subscribe request code (unsubscribe is +1)."""

    TICKER = 15
    QUOTE = 17
    FULL = 21

    @classmethod
    def parse(cls, name: str) -> FeedMode:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown feed mode {name!r}: use ticker, quote or full") from None


class RequestCode(IntEnum):
    DISCONNECT = 12
    SUBSCRIBE_TICKER = 15
    UNSUBSCRIBE_TICKER = 16
    SUBSCRIBE_QUOTE = 17
    UNSUBSCRIBE_QUOTE = 18
    SUBSCRIBE_FULL = 21
    UNSUBSCRIBE_FULL = 22


class ResponseCode(IntEnum):
    TICKER = 2
    QUOTE = 4
    OI = 5
    PREV_CLOSE = 6
    MARKET_STATUS = 7
    FULL = 8
    DISCONNECT = 50


# Disconnect reason codes (annexure "Data API Error").
DISCONNECT_REASONS: dict[int, str] = {
    800: "internal server error",
    804: "requested number of instruments exceeds limit",
    805: "too many requests or connections",
    806: "data APIs not subscribed",
    807: "access token expired",
    808: "authentication failed",
    809: "access token invalid",
    810: "client id invalid",
    811: "invalid expiry date",
    812: "invalid date format",
    813: "invalid security id",
    814: "invalid request",
}


# --- requests -----------------------------------------------------------------------


def _instrument_messages(code: int, keys: Sequence[InstrumentKey]) -> list[str]:
    messages = []
    for start in range(0, len(keys), MAX_INSTRUMENTS_PER_MESSAGE):
        batch = keys[start : start + MAX_INSTRUMENTS_PER_MESSAGE]
        messages.append(
            json.dumps(
                {
                    "RequestCode": code,
                    "InstrumentCount": len(batch),
                    "InstrumentList": [
                        # SecurityId is a string in DhanHQ's docs (SDK issue #16).
                        {"ExchangeSegment": k.segment_name, "SecurityId": str(k.security_id)}
                        for k in batch
                    ],
                }
            )
        )
    return messages


def subscribe_messages(keys: Iterable[InstrumentKey], *, mode: FeedMode) -> list[str]:
    """JSON subscribe requests, at most 100 instruments each, order kept, duplicates dropped."""
    return _instrument_messages(int(mode), list(dict.fromkeys(keys)))


def unsubscribe_messages(keys: Iterable[InstrumentKey], *, mode: FeedMode) -> list[str]:
    return _instrument_messages(int(mode) + 1, list(dict.fromkeys(keys)))


def disconnect_message() -> str:
    return json.dumps({"RequestCode": int(RequestCode.DISCONNECT)})


@dataclass(frozen=True, slots=True)
class InstrumentRequest:
    """A decoded subscribe or unsubscribe request (what the simulator receives)."""

    code: int
    keys: tuple[InstrumentKey, ...]

    @property
    def mode(self) -> FeedMode:
        return FeedMode(self.code if self.code % 2 else self.code - 1)

    @property
    def is_subscribe(self) -> bool:
        return self.code in (15, 17, 21)


class RequestError(ValueError):
    """A client request the server rejects; `reason` is the DhanHQ disconnect code."""

    def __init__(self, message: str, *, reason: int = 814) -> None:
        super().__init__(message)
        self.reason = reason


def parse_request(text: str) -> InstrumentRequest | None:
    """Parse one JSON request frame; None means disconnect (code 12)."""
    try:
        body = json.loads(text)
        code = int(body["RequestCode"])
    except (ValueError, TypeError, KeyError) as exc:
        raise RequestError(f"not a DhanHQ request: {exc}") from None
    if code == RequestCode.DISCONNECT:
        return None
    if code not in {15, 16, 17, 18, 21, 22}:
        raise RequestError(f"unsupported RequestCode {code}")
    items = body.get("InstrumentList")
    if not isinstance(items, list) or body.get("InstrumentCount") != len(items):
        raise RequestError("InstrumentCount does not match InstrumentList")
    if len(items) > MAX_INSTRUMENTS_PER_MESSAGE:
        raise RequestError("more than 100 instruments in one message", reason=804)
    keys = []
    for item in items:
        try:
            keys.append(InstrumentKey.parse(f"{item['ExchangeSegment']}:{item['SecurityId']}"))
        except (InstrumentKeyError, KeyError, TypeError) as exc:
            raise RequestError(f"bad instrument {item!r}: {exc}", reason=813) from None
    return InstrumentRequest(code, tuple(keys))


# --- responses ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ticker:
    segment: int
    security_id: int
    ltp: float
    ltt: int  # epoch seconds as sent


@dataclass(frozen=True, slots=True)
class PrevClose:
    segment: int
    security_id: int
    prev_close: float
    prev_oi: int


@dataclass(frozen=True, slots=True)
class Quote:
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


@dataclass(frozen=True, slots=True)
class OpenInterest:
    segment: int
    security_id: int
    oi: int


@dataclass(frozen=True, slots=True)
class MarketStatus:
    segment: int
    security_id: int


@dataclass(frozen=True, slots=True)
class DepthLevel:
    bid_quantity: int
    ask_quantity: int
    bid_orders: int
    ask_orders: int
    bid_price: float
    ask_price: float


@dataclass(frozen=True, slots=True)
class Full:
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


@dataclass(frozen=True, slots=True)
class Disconnect:
    segment: int
    security_id: int
    reason: int

    @property
    def description(self) -> str:
        return DISCONNECT_REASONS.get(self.reason, "unknown reason")


Packet = Ticker | PrevClose | Quote | OpenInterest | MarketStatus | Full | Disconnect
PricePacket = Ticker | Quote | Full

_HEADER = struct.Struct("<BHBI")
_TICKER = struct.Struct("<fI")  # also prev close: float32 price, int32
_QUOTE = struct.Struct("<fHIfIIIffff")
_OI = struct.Struct("<I")
_FULL = struct.Struct("<fHIfIIIIIIffff")
_DEPTH = struct.Struct("<IIHHff")
_DISCONNECT = struct.Struct("<H")

PACKET_SIZES: dict[int, int] = {2: 16, 4: 50, 5: 12, 6: 16, 7: 8, 8: 162, 50: 10}


# --- tick grid ----------------------------------------------------------------------

DEFAULT_TICK_SIZES: dict[int, float] = {
    0: 0.01,  # indices: 0.05 or 0.01 in the scrip master; the finer grid holds both
    1: 0.01,
    2: 0.05,
    3: 0.0025,
    4: 0.01,
    5: 0.05,
    7: 0.0025,
    8: 0.05,
}


@dataclass(frozen=True, slots=True)
class TickGrid:
    """A tick size as an integer number of units of 10**-decimals rupees.

    Snapping divides integers, so 1612.35 comes out as the double that prints 1612.35.
    """

    units: int
    scale: int

    @classmethod
    def of(cls, tick_size: float | str) -> TickGrid:
        text = f"{float(tick_size):.6f}".rstrip("0").rstrip(".")
        decimals = len(text.partition(".")[2])
        scale = 10 ** max(decimals, 2)
        units = round(float(tick_size) * scale)
        if units <= 0:
            raise ValueError(f"tick size must be positive, got {tick_size!r}")
        return cls(units, scale)

    def snap(self, price: float) -> float:
        return round(price * self.scale / self.units) * self.units / self.scale


class Decoder:
    """Decodes frames into packets, snapping every price to its instrument's tick grid.

    `tick_sizes` maps (segment, security_id) to a tick size in rupees; instruments not in it
    use the segment's default grid. Raises `DecodeError` for anything malformed.
    """

    def __init__(self, tick_sizes: Mapping[tuple[int, int], float] | None = None) -> None:
        self._default = {seg: TickGrid.of(t) for seg, t in DEFAULT_TICK_SIZES.items()}
        self._fallback = TickGrid.of(0.01)
        self._grids: dict[tuple[int, int], TickGrid] = {}
        for key, tick in (tick_sizes or {}).items():
            self._grids[key] = TickGrid.of(tick)

    def set_tick_size(self, key: InstrumentKey, tick_size: float) -> None:
        self._grids[(key.segment, key.security_id)] = TickGrid.of(tick_size)

    def grid(self, segment: int, security_id: int) -> TickGrid:
        grid = self._grids.get((segment, security_id))
        if grid is None:
            grid = self._default.get(segment, self._fallback)
        return grid

    def decode(self, frame: bytes) -> list[Packet]:
        """All packets in one frame (DhanHQ may concatenate several)."""
        if not isinstance(frame, (bytes, bytearray, memoryview)):
            raise DecodeError(f"expected a binary frame, got {type(frame).__name__}")
        packets: list[Packet] = []
        offset, end = 0, len(frame)
        if end == 0:
            raise DecodeError("empty frame")
        try:
            while offset < end:
                packet, offset = self._decode_one(frame, offset, end)
                packets.append(packet)
        except (struct.error, ValueError, OverflowError) as exc:
            if isinstance(exc, DecodeError):
                raise
            raise DecodeError(f"bad packet at byte {offset}: {exc}") from None
        return packets

    def _decode_one(self, frame: bytes, offset: int, end: int) -> tuple[Packet, int]:
        if end - offset < 8:
            raise DecodeError(f"truncated header at byte {offset}: {end - offset} bytes left")
        code, length, seg, sid = _HEADER.unpack_from(frame, offset)
        size = PACKET_SIZES.get(code)
        if size is None:
            raise DecodeError(f"unknown response code {code} at byte {offset}")
        if length != size:
            raise DecodeError(f"code {code} declares length {length}, expected {size}")
        if end - offset < size:
            raise DecodeError(f"truncated code-{code} packet at byte {offset}")
        body = offset + 8
        if code == 2:
            price, ltt = _TICKER.unpack_from(frame, body)
            packet: Packet = Ticker(seg, sid, self._snap(seg, sid, price), ltt)
        elif code == 4:
            packet = self._quote(seg, sid, _QUOTE.unpack_from(frame, body))
        elif code == 8:
            packet = self._full(frame, body, seg, sid)
        elif code == 6:
            price, oi = _TICKER.unpack_from(frame, body)
            packet = PrevClose(seg, sid, self._snap(seg, sid, price), oi)
        elif code == 5:
            packet = OpenInterest(seg, sid, _OI.unpack_from(frame, body)[0])
        elif code == 7:
            packet = MarketStatus(seg, sid)
        else:
            packet = Disconnect(seg, sid, _DISCONNECT.unpack_from(frame, body)[0])
        return packet, offset + size

    def _snap(self, seg: int, sid: int, price: float) -> float:
        if not math.isfinite(price):
            raise DecodeError(f"non-finite price for {seg}:{sid}")
        return self.grid(seg, sid).snap(price)

    def _quote(self, seg: int, sid: int, f: tuple) -> Quote:
        grid = self.grid(seg, sid)
        ltp, o, c, h, low, atp = self._check(f[0], f[7], f[8], f[9], f[10], f[3])
        return Quote(
            seg, sid, grid.snap(ltp), f[1], f[2], grid.snap(atp), f[4], f[5], f[6],
            grid.snap(o), grid.snap(c), grid.snap(h), grid.snap(low),
        )  # fmt: skip

    def _full(self, frame: bytes, body: int, seg: int, sid: int) -> Full:
        f = _FULL.unpack_from(frame, body)
        grid = self.grid(seg, sid)
        ltp, atp, o, c, h, low = self._check(f[0], f[3], f[10], f[11], f[12], f[13])
        depth = []
        for level in range(5):
            bq, aq, bo, ao, bp, ap = _DEPTH.unpack_from(frame, body + 54 + 20 * level)
            bp, ap = self._check(bp, ap)
            depth.append(DepthLevel(bq, aq, bo, ao, grid.snap(bp), grid.snap(ap)))
        return Full(
            seg, sid, grid.snap(ltp), f[1], f[2], grid.snap(atp), f[4], f[5], f[6], f[7],
            f[8], f[9], grid.snap(o), grid.snap(c), grid.snap(h), grid.snap(low), tuple(depth),
        )  # fmt: skip

    @staticmethod
    def _check(*prices: float) -> tuple[float, ...]:
        for price in prices:
            if not math.isfinite(price):
                raise DecodeError("non-finite price in packet")
        return prices


# --- encoding (the simulator's side, and test fixtures) -----------------------------


def _header(code: int, key: InstrumentKey) -> bytes:
    return _HEADER.pack(code, PACKET_SIZES[code], key.segment, key.security_id)


def encode_ticker(key: InstrumentKey, *, ltp: float, ltt: int) -> bytes:
    return _header(2, key) + _TICKER.pack(ltp, ltt)


def encode_prev_close(key: InstrumentKey, *, prev_close: float, prev_oi: int = 0) -> bytes:
    return _header(6, key) + _TICKER.pack(prev_close, prev_oi)


def encode_quote(p: Quote) -> bytes:
    key = InstrumentKey(p.segment, p.security_id)
    return _header(4, key) + _QUOTE.pack(
        p.ltp, p.ltq, p.ltt, p.avg_price, p.volume, p.total_sell_quantity,
        p.total_buy_quantity, p.open, p.close, p.high, p.low,
    )  # fmt: skip


def encode_oi(key: InstrumentKey, *, oi: int) -> bytes:
    return _header(5, key) + _OI.pack(oi)


def encode_market_status(key: InstrumentKey) -> bytes:
    return _header(7, key)


def encode_full(p: Full) -> bytes:
    key = InstrumentKey(p.segment, p.security_id)
    depth = b"".join(
        _DEPTH.pack(d.bid_quantity, d.ask_quantity, d.bid_orders, d.ask_orders,
                    d.bid_price, d.ask_price)
        for d in p.depth
    )  # fmt: skip
    return _header(8, key) + _FULL.pack(
        p.ltp, p.ltq, p.ltt, p.avg_price, p.volume, p.total_sell_quantity,
        p.total_buy_quantity, p.oi, p.oi_day_high, p.oi_day_low, p.open, p.close, p.high, p.low,
    ) + depth  # fmt: skip


def encode_disconnect(reason: int, key: InstrumentKey | None = None) -> bytes:
    return _header(50, key or InstrumentKey(0, 0)) + _DISCONNECT.pack(reason)
