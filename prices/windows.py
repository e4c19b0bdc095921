"""A web process's recent broadcast windows: each parsed once, and each client update
rendered once per distinct key set (clients on the same page share it). Owned by the
process's `LivePrices`; consumers read it when the fan-out hands them a window.
"""

from __future__ import annotations

import json


class WindowCache:
    """The latest windows' prices, parsed once, and their payloads per key set."""

    def __init__(self, *, keep: int = 4) -> None:
        self._keep = keep
        self._windows: dict[int, tuple[dict[str, float], dict[frozenset, str | None]]] = {}

    def _window(self, event: dict) -> tuple[dict[str, float], dict[frozenset, str | None]]:
        seq = event["seq"]
        window = self._windows.get(seq)
        if window is None:
            window = (json.loads(event["prices"]), {})
            self._windows[seq] = window
            while len(self._windows) > self._keep:
                del self._windows[min(self._windows)]
        return window

    def prices(self, event: dict) -> dict[str, float]:
        return self._window(event)[0]

    def payload(
        self, event: dict, keys: frozenset, *, exclude: frozenset = frozenset()
    ) -> str | None:
        prices, payloads = self._window(event)
        if exclude:  # rare: a snapshot newer than this window; not shared
            return render_update(event, prices, keys - exclude)
        if keys not in payloads:
            payloads[keys] = render_update(event, prices, keys)
        return payloads[keys]


def render_update(event: dict, prices: dict[str, float], keys: frozenset) -> str | None:
    if len(keys) < len(prices):
        subset = {k: prices[k] for k in keys if k in prices}
    else:
        subset = {k: v for k, v in prices.items() if k in keys}
    if not subset:
        return None
    return json.dumps(
        {"type": "screener_ltp_update", "seq": event["seq"], "ts": event["ts"], "prices": subset},
        separators=(",", ":"),
    )
