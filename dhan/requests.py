"""DhanHQ v2 market feed, client side of the conversation: the JSON request frames
(subscribe, unsubscribe, disconnect) and their parser (what the simulator receives). Pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from dhan.limits import MAX_INSTRUMENTS_PER_MESSAGE
from dhan.segments import InstrumentKey, InstrumentKeyError


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
