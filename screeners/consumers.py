"""`/ws/dashboard/`'s screens feature: a signed-in client's socket gets
`{"type": "screen_entered", "screen", "name", "run_id", "entered": [...]}` when a run of one
of the user's screens has new entrants, without asking: the user's push path (kind
"screen", sent by `screeners.notify`) brings it to each of the user's sockets. Made per
connection by the composed consumer, which `marketstream.consumers` names it in."""

from __future__ import annotations

from prices.features import Feature


class ScreensFeature(Feature):
    __slots__ = ()
    user_event_kinds = frozenset({"screen"})

    async def on_user_event(self, kind: str, text: str) -> None:
        """A run of the user's screen has new entrants: to the client as it is."""
        await self.context.send_text(text)
