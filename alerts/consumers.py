"""`/ws/dashboard/`'s alerts feature: a signed-in client's socket gets
`{"type": "alert_triggered", "event": {...}}` for its user's alerts, without asking: the
user's push path (kind "alert", sent by `alerts.notify`) brings them to each of the
user's sockets. Made per connection by the composed consumer (`prices.composition`),
which `marketstream.consumers` names it in."""

from __future__ import annotations

from prices.features import Feature


class AlertsFeature(Feature):
    __slots__ = ()
    user_event_kinds = frozenset({"alert"})

    async def on_user_event(self, kind: str, text: str) -> None:
        """An alert of the user's fired: to the client as it is."""
        await self.context.send_text(text)
