"""The feed's hot path: `LtpScanner` keeps only the latest LTP per instrument and decodes
once per key per flush, not once per packet. In quote and full mode it also keeps each
instrument's latest whole quote or full packet (and OI), decoded once per drain.
"""

from __future__ import annotations

import array
import struct
import sys
from typing import cast

from dhan.decoder import Decoder
from dhan.packets import (
    DISCONNECT_STRUCT,
    OI_STRUCT,
    PACKET_SIZES,
    DecodeError,
    Disconnect,
    Full,
    Quote,
    frame_length,
    new_tuple,
    packet_at,
)
from dhan.segments import SEGMENT_NAMES

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

    def __init__(self, decoder: Decoder, *, keep_quotes: bool = False) -> None:
        self._decoder = decoder
        self._keep_quotes = keep_quotes
        self._latest: dict[bytes, bytes] = {}  # segment + security id -> float32 LTP bytes
        self._quotes: dict[bytes, bytes] = {}  # segment + security id -> a whole code-4/8 packet
        self._oi: dict[bytes, int] = {}
        self._prev_close: dict[bytes, float] = {}
        # segment + security id bytes -> (SEG:SID, ticks per rupee, units, scale)
        self._names: dict[bytes, tuple[str, float, int, int]] = {}
        self.packets = 0
        self.malformed = 0

    def scan(self, frame: bytes) -> Disconnect | None:
        """Take one frame; returns the disconnect packet if the frame carries one."""
        if type(frame) is bytes and len(frame) == _SINGLE_PRICE_PACKET.get(frame[:3]):
            self._latest[frame[3:8]] = frame[8:12]  # segment and security id -> LTP
            if self._keep_quotes and frame[0] != 2:
                self._quotes[frame[3:8]] = frame
            self.packets += 1
            return None
        return self._scan(frame)

    def _scan(self, frame: bytes) -> Disconnect | None:
        end = frame_length(frame)
        frame = bytes(frame)
        offset, disconnect = 0, None
        prices: list[tuple[bytes, bytes]] = []
        closes: list[tuple[bytes, float]] = []
        quotes: list[tuple[bytes, bytes]] = []
        ois: list[tuple[bytes, int]] = []
        while offset < end:
            code, size = packet_at(frame, offset, end)
            if code in (4, 8):
                quotes.append((frame[offset + 3 : offset + 8], frame[offset : offset + size]))
            elif code == 5:
                ois.append(
                    (frame[offset + 3 : offset + 8], OI_STRUCT.unpack_from(frame, offset)[4])
                )
            if code in _PRICE_CODES or code == 6:
                price = _LTP_HEAD.unpack_from(frame, offset)[4]
                if price - price != 0.0:  # NaN or infinity
                    raise DecodeError(f"non-finite price in packet at byte {offset}")
                if code == 6:
                    closes.append((frame[offset + 3 : offset + 8], price))
                else:
                    prices.append((frame[offset + 3 : offset + 8], frame[offset + 8 : offset + 12]))
            elif code == 50:
                disconnect = new_tuple(Disconnect, DISCONNECT_STRUCT.unpack_from(frame, offset)[2:])
            offset += size
        # Only a whole, valid frame changes state: a bad frame leaves no trace.
        self._latest.update(prices)
        self._prev_close.update(closes)
        if self._keep_quotes:
            self._quotes.update(quotes)
            self._oi.update(ois)
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

    def drain_quotes(self) -> tuple[dict[str, Quote | Full], dict[str, int]]:
        """The latest quote or full packet per `SEG:SID` since the last drain, decoded and
        snapped, and the latest open interest per key (derivatives)."""
        packets, self._quotes = self._quotes, {}
        ois, self._oi = self._oi, {}
        quotes: dict[str, Quote | Full] = {}
        for key_bytes, packet in packets.items():
            try:
                (decoded,) = cast("tuple[Quote | Full]", self._decoder.decode(packet))
            except DecodeError:  # a non-finite price: counted, the key keeps its last quote
                self.malformed += 1
                continue
            quotes[(self._names.get(key_bytes) or self._name(key_bytes))[0]] = decoded
        named = {(self._names.get(k) or self._name(k))[0]: oi for k, oi in ois.items()}
        return quotes, named
