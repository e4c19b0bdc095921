"""Alert firings on `/ws/dashboard/`: a signed-in client's socket gets
`{"type": "alert_triggered", "event": {...}}` for its user's alerts, without asking: its
web process's fan-out joins the user's group while one of its sockets of that user is
open. A mixin of the dashboard consumer (`marketstream.consumers`)."""

from __future__ import annotations

from alerts.notify import user_group


class AlertNotifications:
    async def connect(self) -> None:
        self.alerts_user: int | None = None
        await super().connect()
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            self.alerts_user = user.pk
            await self.live.fanout.add_group(user_group(user.pk))

    async def disconnect(self, code: int) -> None:
        if self.alerts_user is not None:
            user, self.alerts_user = self.alerts_user, None
            await self.live.fanout.discard_group(user_group(user))
        await super().disconnect(code)

    async def alert_event(self, event: dict) -> None:
        if self.alerts_user is not None and event.get("user_id") == self.alerts_user:
            await self.send(text_data=event["text"])
