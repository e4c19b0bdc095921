"""What one `/ws/dashboard/` connection holds for one mode (ltp, quote, depth): its keys,
and the windows held back while a snapshot of them is read, so an older snapshot never
lands after a newer update. The consumer has one per mode."""

from __future__ import annotations

from prices.windows import Frame, Mode, WindowCache, render_update


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
