"""Instrument keys, `SEGMENT:SECURITY_ID`, and DhanHQ's exchange-segment enum.

The one parser of keys for the API, the consumer and the feed (which imports it from here,
since `prices` is the base layer).
"""

from __future__ import annotations

from dataclasses import dataclass

# Exchange segment enum on DhanHQ's wire (annexure); value 6 is unused.
SEGMENT_NAMES: dict[int, str] = {
    0: "IDX_I",
    1: "NSE_EQ",
    2: "NSE_FNO",
    3: "NSE_CURRENCY",
    4: "BSE_EQ",
    5: "MCX_COMM",
    7: "BSE_CURRENCY",
    8: "BSE_FNO",
}
SEGMENT_CODES: dict[str, int] = {name: code for code, name in SEGMENT_NAMES.items()}
MAX_SECURITY_ID = 0xFFFFFFFF  # uint32 on the wire


class InstrumentKeyError(ValueError):
    """A malformed instrument key or an unknown segment."""


@dataclass(frozen=True, slots=True, order=True)
class InstrumentKey:
    """One instrument on the feed: `NSE_EQ:2885` is (segment 1, security id 2885)."""

    segment: int
    security_id: int

    @classmethod
    def parse(cls, text: str) -> InstrumentKey:
        if not isinstance(text, str):
            raise InstrumentKeyError(f"instrument key must be a string, got {type(text).__name__}")
        segment_name, sep, sid = text.strip().partition(":")
        if not sep or not segment_name or not sid:
            raise InstrumentKeyError(f"malformed instrument key {text!r}: expected SEGMENT:ID")
        if segment_name not in SEGMENT_CODES:
            raise InstrumentKeyError(f"unknown segment {segment_name!r} in key {text!r}")
        if not sid.isascii() or not sid.isdigit() or len(sid) > 10 or int(sid) > MAX_SECURITY_ID:
            raise InstrumentKeyError(f"malformed security id {sid!r} in key {text!r}")
        return cls(SEGMENT_CODES[segment_name], int(sid))

    @property
    def segment_name(self) -> str:
        return SEGMENT_NAMES.get(self.segment, str(self.segment))

    def __str__(self) -> str:
        return f"{self.segment_name}:{self.security_id}"
