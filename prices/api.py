"""Request parsing for the price API and the WebSocket consumer: one validator of key lists."""

from __future__ import annotations

from dhan.segments import InstrumentKey, InstrumentKeyError

MAX_KEYS_PER_REQUEST = 1000


class KeyListError(ValueError):
    """A key list a client sent that we refuse; the message is shown to the client."""


def parse_key_list(items: list[str]) -> list[str]:
    """Validate client keys: canonical strings, duplicates dropped, order kept."""
    if len(items) > MAX_KEYS_PER_REQUEST:
        raise KeyListError(f"too many keys: {len(items)} > {MAX_KEYS_PER_REQUEST}")
    keys: dict[str, None] = {}
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise KeyListError("empty instrument key")
        try:
            keys[str(InstrumentKey.parse(item))] = None
        except InstrumentKeyError as exc:
            raise KeyListError(str(exc)) from None
    return list(keys)
