"""What one `/ws/dashboard/` connection holds for one mode (ltp, quote, depth): its keys,
and the windows held back while a snapshot of them is read, so an older snapshot never
lands after a newer update; a subscribe's or unsubscribe's mode and keys, checked; and the
snapshot reads. The consumer (`prices.consumers`) has one `Subscription` per mode."""

from __future__ import annotations

from collections.abc import Callable

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from prices.api import KeyListError, parse_key_list
from prices.cache import QUOTE_KEY_PREFIX, price_store
from prices.depthwatch import read_books
from prices.windows import CANDLES, DEPTH, MODES, Frame, Mode, WindowCache, render_update


class RequestError(ValueError):
    """A subscribe or unsubscribe the client is told it got wrong (the message says how)."""


def requested(message: dict) -> tuple[Mode, list[str]]:
    """The mode and keys of a client's subscribe or unsubscribe, checked: called by the
    consumer for each. Raises RequestError."""
    name = message.get("mode") or "ltp"
    if name == "candles":
        tf = message.get("tf")
        mode = CANDLES.get(tf) if isinstance(tf, str) else None
        if mode is None:
            raise RequestError(f"unknown tf {tf!r}: use {', '.join(CANDLES)}")
    else:
        mode = MODES.get(name) if isinstance(name, str) and ":" not in name else None
    if mode is None:
        raise RequestError(
            f"unknown mode {message.get('mode')!r}: use ltp, quote, depth or candles"
        )
    raw = message.get("keys")
    if not isinstance(raw, list):
        raise RequestError("'keys' must be a list of SEGMENT:SECURITY_ID strings")
    try:
        return mode, parse_key_list(raw)
    except KeyListError as exc:
        raise RequestError(str(exc)) from None


async def read_snapshot(keys: list[str]) -> dict[str, float]:
    """The cached prices of `keys` (ltp mode), read off the loop; called on a subscribe."""
    return await sync_to_async(price_store().read, thread_sensitive=False)(keys)


async def read_records(mode: Mode, keys: list[str]) -> dict[str, dict]:
    """The cached QUOTE or BOOK records of `keys` (20-level books where there are); called
    on a subscribe in quote or depth mode."""
    if mode is DEPTH:
        return await sync_to_async(read_books, thread_sensitive=False)(keys)
    if mode.tf is not None:
        return await database_sync_to_async(CANDLE_SNAPSHOTS.read)(mode.tf, keys)
    read = sync_to_async(price_store().read_records, thread_sensitive=False)
    return await read(QUOTE_KEY_PREFIX, keys)


class CandleSnapshots:
    """Who reads a candle subscription's snapshot (closed bars live in the bar store, a
    layer above): `history` registers its reader when its app is ready."""

    def __init__(self) -> None:
        self._reader: Callable[[str, list[str]], dict[str, dict]] | None = None

    def register(self, reader: Callable[[str, list[str]], dict[str, dict]]) -> None:
        self._reader = reader

    def read(self, tf: str, keys: list[str]) -> dict[str, dict]:
        """`{KEY: {"bars": [...], "forming": BAR|None}}`; {} while nobody registered."""
        return self._reader(tf, keys) if self._reader is not None else {}


CANDLE_SNAPSHOTS = CandleSnapshots()


class Subscription:
    __slots__ = (
        "held",
        "held_event",
        "keys",
        "mode",
        "snapshot_keys",
        "snapshot_time",
        "snapshotting",
    )

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.keys: frozenset[str] = frozenset()
        self.snapshot_time = 0.0
        self.snapshot_keys: frozenset[str] = frozenset()
        # Windows that arrive while a snapshot is read: merged (latest per key), sent after.
        # Made only then: thousands of connections hold one of these per mode.
        self.snapshotting = False
        self.held: dict[str, object] | None = None
        self.held_event: dict | None = None

    def on_window(self, event: dict, windows: WindowCache) -> Frame | str | None:
        """The update this window gives the client now (shared with the clients of the same
        keys, or its own text); None when nothing (or held)."""
        if not self.keys:
            return None
        exclude = self.snapshot_keys if event["ts"] < self.snapshot_time else frozenset()
        if self.snapshotting:
            keys = self.keys - exclude
            values = windows.values(event, self.mode)
            if self.held is None:
                self.held = {}
            self.held.update((k, v) for k, v in values.items() if k in keys)
            self.held_event = event
            return None
        return windows.payload(event, self.keys, mode=self.mode, exclude=exclude)

    def take_held(self) -> str | None:
        """After the snapshot went out: what was held, as one update."""
        held, event, self.held, self.held_event = self.held, self.held_event, None, None
        if not held or event is None:
            return None
        return render_update(event, held, self.keys, mode=self.mode)
