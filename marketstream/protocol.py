"""DhanHQ v2 live market feed: the wire protocol as a pure codec (no I/O).

Requests are JSON text frames; responses are little-endian binary packets that start with
an 8-byte header (code, length, segment, security id). Used by the feed client, the
simulator and the tests; see shared/reference/dhanhq-sdk.md for the byte layouts.
"""

from __future__ import annotations

import array
import json
import struct
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

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
_HEADER = struct.Struct("<BHBI")
_TICKER = struct.Struct("<BHBIfI")  # also prev close: float32 price, int32
_QUOTE = struct.Struct("<BHBIfHIfIIIffff")
_OI = struct.Struct("<BHBII")
_FULL = struct.Struct("<BHBIfHIfIIIIIIffff" + "IIHHff" * 5)
_DISCONNECT = struct.Struct("<BHBIH")

PACKET_SIZES: dict[int, int] = {2: 16, 4: 50, 5: 12, 6: 16, 7: 8, 8: 162, 50: 10}


# --- tick grid ----------------------------------------------------------------------

DEFAULT_TICK_SIZES: dict[int, float] = {
    0: 0.01,  # indices: 0.05 or 0.01 in the scrip master; the finer grid holds both
    1: 0.01,  # NSE equities: 0.01 below 250 rupees since 2025; finer is never wrong
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


def _grid_id(segment: int, security_id: int) -> int:
    return segment << 32 | security_id


_new = tuple.__new__  # builds NamedTuples without their Python-level __new__ (hot path)


def _frame_length(frame: object) -> int:
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise DecodeError(f"expected a binary frame, got {type(frame).__name__}")
    if len(frame) == 0:
        raise DecodeError("empty frame")
    return len(frame)


def _packet_at(frame: bytes, offset: int, end: int) -> tuple[int, int]:
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
    length = _HEADER.unpack_from(frame, offset)[1]
    if length != size:
        raise DecodeError(f"code {code} declares length {length}, expected {size}")
    return code, size


class Decoder:
    """Decodes frames into packets, snapping every price to its instrument's tick grid.

    `tick_sizes` maps (segment, security_id) to a tick size in rupees; instruments not in it
    use the segment's default grid. Averages (ATP) keep the grid's decimals, not its step.
    Raises `DecodeError` for anything malformed. This is the feed's hot path: one flat
    function, no per-price calls.
    """

    def __init__(self, tick_sizes: Mapping[tuple[int, int], float] | None = None) -> None:
        self._default = {seg: self._entry(TickGrid.of(t)) for seg, t in DEFAULT_TICK_SIZES.items()}
        self._grids: dict[int, tuple[float, float, int, int]] = {}
        for (seg, sid), tick in (tick_sizes or {}).items():
            self._grids[_grid_id(seg, sid)] = self._entry(TickGrid.of(tick))
        self._fallback = self._entry(TickGrid.of(0.01))

    @staticmethod
    def _entry(grid: TickGrid) -> tuple[float, int, int, float]:
        # (ticks per rupee, units, scale, fine scale): see _snap for how they are used.
        return (grid.scale / grid.units, grid.units, grid.scale, float(grid.scale))

    def grid(self, segment: int, security_id: int) -> TickGrid:
        entry = self._grids.get(segment << 32 | security_id) or self._default.get(segment)
        entry = entry or self._fallback
        return TickGrid(entry[1], entry[2])

    def decode(self, frame: bytes) -> list[Packet]:
        """All packets in one frame (DhanHQ may concatenate several).

        Snapping: ticks = round(price * scale / units); value = ticks * units / scale, all
        in integers but the last division, so the double is the nearest to the exact price.
        """
        end = _frame_length(frame)
        packets: list[Packet] = []
        offset = 0
        grids, defaults, fallback = self._grids, self._default, self._fallback
        try:
            while offset < end:
                code, size = _packet_at(frame, offset, end)
                if code == 2 or code == 6:
                    _, _, seg, sid, p, n = _TICKER.unpack_from(frame, offset)
                    k, u, s, _f = grids.get(seg << 32 | sid) or defaults.get(seg) or fallback
                    packet = _new(
                        Ticker if code == 2 else PrevClose, (seg, sid, round(p * k) * u / s, n)
                    )
                elif code == 4:
                    f = _QUOTE.unpack_from(frame, offset)
                    seg, sid = f[2], f[3]
                    k, u, s, fs = grids.get(seg << 32 | sid) or defaults.get(seg) or fallback
                    packet = _new(
                        Quote,
                        (
                            seg,
                            sid,
                            round(f[4] * k) * u / s,
                            f[5],
                            f[6],
                            round(f[7] * fs) / fs,
                            f[8],
                            f[9],
                            f[10],
                            round(f[11] * k) * u / s,
                            round(f[12] * k) * u / s,
                            round(f[13] * k) * u / s,
                            round(f[14] * k) * u / s,
                        ),
                    )
                elif code == 8:
                    f = _FULL.unpack_from(frame, offset)
                    seg, sid = f[2], f[3]
                    k, u, s, fs = grids.get(seg << 32 | sid) or defaults.get(seg) or fallback
                    depth = tuple(
                        [
                            _new(
                                DepthLevel,
                                (
                                    f[i],
                                    f[i + 1],
                                    f[i + 2],
                                    f[i + 3],
                                    round(f[i + 4] * k) * u / s,
                                    round(f[i + 5] * k) * u / s,
                                ),
                            )
                            for i in (18, 24, 30, 36, 42)
                        ]
                    )
                    packet = _new(
                        Full,
                        (
                            seg,
                            sid,
                            round(f[4] * k) * u / s,
                            f[5],
                            f[6],
                            round(f[7] * fs) / fs,
                            f[8],
                            f[9],
                            f[10],
                            f[11],
                            f[12],
                            f[13],
                            round(f[14] * k) * u / s,
                            round(f[15] * k) * u / s,
                            round(f[16] * k) * u / s,
                            round(f[17] * k) * u / s,
                            depth,
                        ),
                    )
                elif code == 5:
                    packet = _new(OpenInterest, _OI.unpack_from(frame, offset)[2:])
                elif code == 7:
                    packet = _new(MarketStatus, _HEADER.unpack_from(frame, offset)[2:])
                else:
                    packet = _new(Disconnect, _DISCONNECT.unpack_from(frame, offset)[2:])
                packets.append(packet)
                offset += size
        except (ValueError, OverflowError) as exc:  # round() of NaN or infinity
            if isinstance(exc, DecodeError):
                raise
            raise DecodeError(f"non-finite price in packet at byte {offset}") from None
        return packets


_LTP_HEAD = struct.Struct("<BHBIf")  # header + the float32 after it (LTP, or prev close)
_PRICE_CODES = frozenset({2, 4, 8})
# First byte -> size, for frames that are exactly one price packet (DhanHQ's usual frame).
# Code and length field (bytes 0-2) -> size, for frames that are exactly one well-framed
# price packet, DhanHQ's usual frame.
_SINGLE_PRICE_PACKET = {
    struct.pack("<BH", code, PACKET_SIZES[code]): PACKET_SIZES[code] for code in _PRICE_CODES
}
_KEY_BYTES = struct.Struct("<BI")  # bytes 3-7 of every packet: segment, security id


class LtpScanner:
    """The feed's hot path: keep only the latest LTP per instrument.

    A price cache needs one value per key per flush, so the scanner remembers the latest
    price packet per instrument (ticker, quote or full) and previous closes, and decodes
    and snaps once per key in `drain()` instead of once per packet. Framing is checked
    like `Decoder.decode` does; a non-finite LTP is found when drained (counted in
    `malformed` and dropped; the key keeps its cached price).
    """

    def __init__(self, decoder: Decoder) -> None:
        self._decoder = decoder
        self._latest: dict[bytes, bytes] = {}  # segment + security id -> float32 LTP bytes
        self._prev_close: dict[int, float] = {}
        # segment + security id bytes -> (SEG:SID, ticks per rupee, units, scale)
        self._names: dict[bytes, tuple[str, float, int, int]] = {}
        self.packets = 0
        self.malformed = 0

    def scan(self, frame: bytes) -> Disconnect | None:
        """Take one frame; returns the disconnect packet if the frame carries one."""
        if type(frame) is bytes and len(frame) == _SINGLE_PRICE_PACKET.get(frame[:3]):
            self._latest[frame[3:8]] = frame[8:12]  # segment and security id -> LTP
            self.packets += 1
            return None
        return self._scan(frame)

    def _scan(self, frame: bytes) -> Disconnect | None:
        end = _frame_length(frame)
        frame = bytes(frame)
        offset, disconnect = 0, None
        prices: list[tuple[bytes, bytes]] = []
        closes: list[tuple[bytes, float]] = []
        while offset < end:
            code, size = _packet_at(frame, offset, end)
            if code in _PRICE_CODES or code == 6:
                price = _LTP_HEAD.unpack_from(frame, offset)[4]
                if price - price != 0.0:  # NaN or infinity
                    raise DecodeError(f"non-finite price in packet at byte {offset}")
                if code == 6:
                    closes.append((frame[offset + 3 : offset + 8], price))
                else:
                    prices.append((frame[offset + 3 : offset + 8], frame[offset + 8 : offset + 12]))
            elif code == 50:
                disconnect = _new(Disconnect, _DISCONNECT.unpack_from(frame, offset)[2:])
            offset += size
        # Only a whole, valid frame changes state: a bad frame leaves no trace.
        self._latest.update(prices)
        self._prev_close.update(closes)
        self.packets += len(prices)
        return disconnect

    def _name(self, key_bytes: bytes) -> tuple[str, float, int, int]:
        seg, sid = _KEY_BYTES.unpack(key_bytes)
        grid = self._decoder.grid(seg, sid)
        entry = (
            f"{SEGMENT_NAMES.get(seg, seg)}:{sid}",
            grid.scale / grid.units,
            grid.units,
            grid.scale,
        )
        self._names[key_bytes] = entry
        return entry

    def drain(self) -> dict[str, float]:
        """Latest LTP per `SEG:SID` since the last drain, snapped to the tick grid."""
        latest, self._latest = self._latest, {}
        if not latest:
            return {}
        prices = array.array("f", b"".join(latest.values()))  # one C call for all floats
        if sys.byteorder != "little":
            prices.byteswap()
        out = {}
        names = self._names
        for key_bytes, price in zip(latest, prices, strict=True):
            if price - price != 0.0:  # NaN or infinity: the packet was malformed
                self.malformed += 1
                continue
            key, k, u, s = names.get(key_bytes) or self._name(key_bytes)
            out[key] = round(price * k) * u / s
        return out

    def drain_prev_close(self) -> dict[str, float]:
        raw, self._prev_close = self._prev_close, {}
        out = {}
        for key_bytes, price in raw.items():
            key, k, u, s = self._names.get(key_bytes) or self._name(key_bytes)
            out[key] = round(price * k) * u / s
        return out


# --- encoding (the simulator's side, and test fixtures) -----------------------------


def _header(code: int, key: InstrumentKey) -> bytes:
    return _HEADER.pack(code, PACKET_SIZES[code], key.segment, key.security_id)


def encode_ticker(key: InstrumentKey, *, ltp: float, ltt: int) -> bytes:
    return _TICKER.pack(2, 16, key.segment, key.security_id, ltp, ltt)


def encode_prev_close(key: InstrumentKey, *, prev_close: float, prev_oi: int = 0) -> bytes:
    return _TICKER.pack(6, 16, key.segment, key.security_id, prev_close, prev_oi)


def encode_quote(p: Quote) -> bytes:
    return _QUOTE.pack(4, PACKET_SIZES[4], *p)


def encode_oi(key: InstrumentKey, *, oi: int) -> bytes:
    return _OI.pack(5, PACKET_SIZES[5], key.segment, key.security_id, oi)


def encode_market_status(key: InstrumentKey) -> bytes:
    return _header(7, key)


def encode_full(p: Full) -> bytes:
    depth = [value for level in p.depth for value in level]
    return _FULL.pack(8, PACKET_SIZES[8], p.segment, p.security_id, *p[2:16], *depth)


def encode_disconnect(reason: int, key: InstrumentKey | None = None) -> bytes:
    key = key or InstrumentKey(0, 0)
    return _DISCONNECT.pack(50, PACKET_SIZES[50], key.segment, key.security_id, reason)
