"""`/ws/dashboard/` composed: the prices consumer (`prices.consumers`) with the features a
subclass names (`marketstream.consumers`: orders, alerts, portfolio). It routes each
feature's client actions to it, the signed-in user's events (`prices.userpush`) to the
features that take their kind, and windows to those that follow them; it makes a
connection's features on their first use, and stops them, with every task they started,
at disconnect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from prices.consumers import OWN_ACTIONS, PricesConsumer
from prices.features import ConnectionTasks, Feature, FeatureContext, FeatureRoutes, FeatureSet


def signed_in_user_id(scope: dict) -> int | None:
    """The id of the scope's signed-in user (the session's: `gateway.wsauth`)."""
    user = scope.get("user")
    return user.pk if user is not None and user.is_authenticated else None


class ComposedConsumer(PricesConsumer):
    features: ClassVar[tuple[type[Feature], ...]] = ()  # a subclass names its features
    routes: ClassVar[FeatureRoutes] = FeatureRoutes.of((), reserved=OWN_ACTIONS)

    def __init_subclass__(cls, **kwargs: object) -> None:
        """Python calls this as a subclass is defined: its routes, checked once."""
        super().__init_subclass__(**kwargs)
        cls.routes = FeatureRoutes.of(cls.features, reserved=OWN_ACTIONS)

    async def connect(self) -> None:
        """A client opened the socket: prices' connect, then, signed in, the user's
        events from here on (before any client action: a feature's snapshot is read
        after its user's group is joined, so no event falls between)."""
        self.user_id = signed_in_user_id(self.scope)
        self._open = True  # until disconnect: no features made, no events taken after it
        self._features: FeatureSet | None = None  # made on first use: most clients never
        self._following: tuple[Feature, ...] = ()  # the features that take windows
        await super().connect()
        if self._takes_user_events:
            await self.live.fanout.add_user(self, self.user_id)

    async def disconnect(self, code: int) -> None:
        """The socket closed: its features stopped (with every task they started), then
        it leaves the user's events, and prices' disconnect."""
        self._open = False
        if self._features is not None:
            await self._features.stop()
        if self._takes_user_events:
            await self.live.fanout.discard_user(self, self.user_id)
        await super().disconnect(code)

    @property
    def _takes_user_events(self) -> bool:
        return self.user_id is not None and bool(self.routes.kinds)

    async def on_action(self, action: object, message: dict) -> bool:
        """A feature's action to that feature; the rest as the prices consumer does."""
        if isinstance(action, str) and action in self.routes.actions:
            await self._feature_set().on_action(action, message)
            return True
        return await super().on_action(action, message)

    async def user_event(self, event: dict) -> None:
        """An event of this connection's user (`prices.userpush`), from the fan-out: to
        the features that take its kind."""
        if self._open and event["kind"] in self.routes.kinds:
            await self._feature_set().on_user_event(event["kind"], event["text"])

    def window_now(self, event: dict) -> bool:
        """A client with a feature that follows windows gets them in `ltp_window`."""
        return not self._following and super().window_now(event)

    async def ltp_window(self, event: dict) -> None:
        await super().ltp_window(event)
        for feature in self._following:
            await feature.on_window(event)

    def _feature_set(self) -> FeatureSet:
        """The connection's features, made (and started) on their first use."""
        if self._features is None:
            self._features = FeatureSet(self.routes, context=self._context, on_follow=self._follow)
        return self._features

    def _context(
        self, tasks: ConnectionTasks, follow_windows: Callable[[Feature, bool], None]
    ) -> FeatureContext:
        return FeatureContext(
            user_id=self.user_id,
            live=self.live,
            send=self._send,
            send_text=self._send_text,
            error=self._error,
            tasks=tasks,
            follow_windows=follow_windows,
        )

    def _follow(self, features: tuple[Feature, ...]) -> None:
        self._following = features
