"""What one `/ws/dashboard/` connection holds for one mode (ltp, quote, depth): its keys,
and the windows held back while a snapshot of them is read, so an older snapshot never
lands after a newer update. The consumer has one per mode."""

from __future__ import annotations

from prices.windows import Mode, WindowCache, render_update


class Subscription:
    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.keys: frozenset[str] = frozenset()
        self.snapshot_time = 0.0
        self.snapshot_keys: frozenset[str] = frozenset()
        # Windows that arrive while a snapshot is read: merged (latest per key), sent after.
        self.snapshotting = False
        self.held: dict[str, object] = {}
        self.held_event: dict | None = None

    def on_window(self, event: dict, windows: WindowCache) -> str | None:
        """The update this window gives the client now; None when nothing (or held)."""
        if not self.keys:
            return None
        exclude = self.snapshot_keys if event["ts"] < self.snapshot_time else frozenset()
        if self.snapshotting:
            keys = self.keys - exclude
            values = windows.values(event, self.mode)
            self.held.update((k, v) for k, v in values.items() if k in keys)
            self.held_event = event
            return None
        return windows.payload(event, self.keys, mode=self.mode, exclude=exclude)

    def take_held(self) -> str | None:
        """After the snapshot went out: what was held, as one update."""
        held, event, self.held, self.held_event = self.held, self.held_event, {}, None
        if not held or event is None:
            return None
        return render_update(event, held, self.keys, mode=self.mode)
