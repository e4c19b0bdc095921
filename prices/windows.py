"""A web process's recent broadcast windows: each field (prices, quotes, depth) parsed once,
and each client update rendered once per mode and distinct key set (clients on the same
page share it, as one `Frame`). Owned by the process's `LivePrices`; consumers read it when
the fan-out hands them a window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dhan.limits import MAX_DEPTH_INSTRUMENTS_PER_CONNECTION
from prices.api import MAX_KEYS_PER_REQUEST


@dataclass(frozen=True, slots=True)
class Mode:
    """A subscription mode of `/ws/dashboard/` and the messages it gets."""

    name: str  # as clients say it: ltp, quote, depth
    field: str  # the window's field, and the messages' payload field
    update_type: str
    snapshot_type: str
    max_keys: int  # per connection
    tf: str | None = None  # candles: the timeframe, one mode each (`candles:5m`)

    @property
    def client_name(self) -> str:
        """The mode as clients say it (`candles` for every timeframe)."""
        return self.name.partition(":")[0]


# The live candles' timeframes (`history.timeframes.TIMEFRAMES`; prices cannot import it).
CANDLE_TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "1d", "1w", "1mo")
MAX_CANDLE_KEYS = 50  # per connection and timeframe
LTP = Mode("ltp", "prices", "screener_ltp_update", "snapshot", MAX_KEYS_PER_REQUEST)
QUOTE = Mode("quote", "quotes", "quote_update", "quote_snapshot", MAX_KEYS_PER_REQUEST)
DEPTH = Mode(
    "depth", "depth", "depth_update", "depth_snapshot", MAX_DEPTH_INSTRUMENTS_PER_CONNECTION
)
CANDLES = {
    tf: Mode(f"candles:{tf}", "candles", "candle_update", "candle_snapshot", MAX_CANDLE_KEYS, tf)
    for tf in CANDLE_TIMEFRAMES
}
MODES = {mode.name: mode for mode in (LTP, QUOTE, DEPTH, *CANDLES.values())}
# A window field's raw records, parsed once for every timeframe's mode.
RECORDS = {"candles": Mode("candles", "candles", "", "", 0)}


def forming_bars(records: dict, tf: str) -> dict:
    """A window's CANDLE records (`history.live`) as each key's forming `tf` bar."""
    out = {}
    for key, record in records.items():
        bar = (record.get("forming") or {}).get(tf) if isinstance(record, dict) else None
        if bar is not None:
            out[key] = bar
    return out


class Frame:
    """One rendered update, the same for every client with the same key set: its text, and
    what a server made of it for the wire once for all of them (under daphne, autobahn's
    prepared message: `gateway.sharedframes.DaphneFrames`)."""

    __slots__ = ("prepared", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.prepared: object | None = None


class WindowCache:
    """The latest windows' values, parsed once per field, and their payloads per key set."""

    def __init__(self, *, keep: int = 4) -> None:
        self._keep = keep
        # seq -> field -> (values, frames by key set)
        self._windows: dict[int, dict[str, tuple[dict, dict[frozenset, Frame | None]]]] = {}

    def _window(self, event: dict, mode: Mode) -> tuple[dict, dict[frozenset, Frame | None]]:
        seq = event["seq"]
        window = self._windows.get(seq)
        if window is None:
            window = self._windows[seq] = {}
            while len(self._windows) > self._keep:
                del self._windows[min(self._windows)]
        parsed = window.get(mode.name)
        if parsed is None and mode.tf is not None:  # a timeframe's bars of the records
            records = self._window(event, RECORDS[mode.field])[0]
            parsed = window[mode.name] = (forming_bars(records, mode.tf), {})
        elif parsed is None:
            raw = event.get(mode.field)
            parsed = window[mode.name] = (json.loads(raw) if raw else {}, {})
        return parsed

    def values(self, event: dict, mode: Mode = LTP) -> dict:
        return self._window(event, mode)[0]

    def payload(
        self, event: dict, keys: frozenset, *, mode: Mode = LTP, exclude: frozenset = frozenset()
    ) -> Frame | str | None:
        """The update of `keys` in this window: shared by key set, or (`exclude`) a text of
        this client's own."""
        values, frames = self._window(event, mode)
        if exclude:  # rare: a snapshot newer than this window; not shared
            return render_update(event, values, keys - exclude, mode=mode)
        try:
            return frames[keys]
        except KeyError:
            text = render_update(event, values, keys, mode=mode)
            frame = frames[keys] = Frame(text) if text is not None else None
            return frame


def render_update(event: dict, values: dict, keys: frozenset, *, mode: Mode = LTP) -> str | None:
    if len(keys) < len(values):
        subset = {k: values[k] for k in keys if k in values}
    else:
        subset = {k: v for k, v in values.items() if k in keys}
    if not subset:
        return None
    message = {"type": mode.update_type, "seq": event["seq"], "ts": event["ts"]}
    if mode.tf is not None:
        message["tf"] = mode.tf
    message[mode.field] = subset
    return json.dumps(message, separators=(",", ":"))
