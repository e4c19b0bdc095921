"""What `/ws/dashboard/` is made of beyond prices: features (orders, alerts, portfolio;
screens coming). A `Feature` declares the client actions it handles and the per-user event
kinds it takes (`prices.userpush`), and gets all it may use of its connection in a
`FeatureContext`. The composed consumer (`prices.composition`) routes to them through the
`FeatureRoutes` of its class and one `FeatureSet` per connection, which owns every task
the connection's features start; `marketstream.consumers` says which features it has.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ImproperlyConfigured

from prices.userpush import KINDS

if TYPE_CHECKING:
    from prices.live import LivePrices

logger = logging.getLogger(__name__)

TASK_STOP_TIMEOUT_SECONDS = 2.0  # a disconnect never waits longer for a feature's tasks


class ConnectionTasks:
    """Owner of the asyncio tasks one connection's features start (a refresh after a fill,
    say): `cancel()`, at disconnect, ends each and waits for it; one started after that
    (by an event already on its way) is cancelled at once. A task that fails is logged;
    one that finishes leaves the set."""

    __slots__ = ("_closed", "_name", "_tasks")

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task] = set()
        self._closed = False

    @property
    def running(self) -> frozenset[asyncio.Task]:
        return frozenset(self._tasks)

    def start(self, coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task:
        """Run `coro` on the loop, owned by this connection: called by a feature."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self._name}:{name}")
        if self._closed:
            task.cancel()  # before its first step: nothing of it runs
            return task
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def later(
        self, delay_seconds: float, then: Callable[[], Awaitable[None]], *, name: str
    ) -> asyncio.Task:
        """Await `then()` after `delay_seconds`, unless the connection ends first."""

        async def run() -> None:
            await asyncio.sleep(delay_seconds)
            await then()

        return self.start(run(), name=name)

    async def cancel(self) -> None:
        """Called at disconnect: every task cancelled and waited for (within a bound)."""
        self._closed = True
        tasks, self._tasks = self._tasks, set()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=TASK_STOP_TIMEOUT_SECONDS)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("task %s failed", task.get_name(), exc_info=exc)


@dataclass(frozen=True, slots=True)
class FeatureContext:
    """All a feature gets of its connection, from the prices consumer."""

    user_id: int | None  # the signed-in user's; None: anonymous
    live: LivePrices  # the process's live-price services (windows' values, say)
    send: Callable[[dict], Awaitable[None]]  # a client message, sent as JSON
    send_text: Callable[[str], Awaitable[None]]  # one already JSON (a user event's text)
    error: Callable[[str], Awaitable[None]]  # {"type": "error", "error": <text>}
    tasks: ConnectionTasks  # owner of what the feature starts; cancelled at disconnect
    # follow_windows(feature, True): `feature.on_window` for every window from now on
    follow_windows: Callable[[Feature, bool], None]


class Feature:
    """One capability of `/ws/dashboard/` beyond prices. A subclass declares `actions`
    (the client messages' `action`s it handles) and `user_event_kinds` (the per-user
    events it takes), and overrides the handlers for them. Made per connection, with its
    context, when the connection first needs its features (an action for one of them, or
    a user event)."""

    __slots__ = ("context",)
    actions: ClassVar[frozenset[str]] = frozenset()
    user_event_kinds: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, context: FeatureContext) -> None:
        self.context = context

    def start(self) -> None:
        """Called once, right after the feature is made (long work: `context.tasks`)."""

    async def stop(self) -> None:
        """Called at disconnect, before the connection's tasks are cancelled."""

    async def on_action(self, action: str, message: dict) -> None:
        """A client message whose `action` is one of `actions`."""

    async def on_user_event(self, kind: str, text: str) -> None:
        """An event of this connection's user, of one of `user_event_kinds`; `text` is
        the client message, JSON."""

    async def on_window(self, event: dict) -> None:
        """A broadcast window (`prices.broadcast`), while the feature follows windows."""


@dataclass(frozen=True, slots=True)
class FeatureRoutes:
    """Which feature handles each action and which take each user-event kind: made once
    per consumer class, from its `features`."""

    features: tuple[type[Feature], ...]
    actions: dict[str, int]  # action -> the index of its feature
    kinds: dict[str, tuple[int, ...]]  # kind -> the indexes of the features taking it

    @classmethod
    def of(cls, features: Sequence[type[Feature]], *, reserved: Iterable[str]) -> FeatureRoutes:
        """Raises ImproperlyConfigured for an action handled twice (or one of `reserved`,
        the consumer's own) and for a kind nobody sends (not in `prices.userpush.KINDS`)."""
        taken = set(reserved)
        actions: dict[str, int] = {}
        kinds: dict[str, tuple[int, ...]] = {}
        for index, feature in enumerate(features):
            for action in sorted(feature.actions):
                if action in taken or action in actions:
                    raise ImproperlyConfigured(f"{feature.__name__}: {action!r} handled twice")
                actions[action] = index
            for kind in sorted(feature.user_event_kinds):
                if kind not in KINDS:
                    raise ImproperlyConfigured(f"{feature.__name__}: no {kind!r} events exist")
                kinds[kind] = (*kinds.get(kind, ()), index)
        return cls(tuple(features), actions, kinds)


class FeatureSet:
    """One connection's features, made and started together by the composed consumer on
    their first use, stopped at its disconnect with every task they started."""

    __slots__ = ("_features", "_follow", "_following", "_routes", "tasks")

    def __init__(
        self,
        routes: FeatureRoutes,
        *,
        context: Callable[[ConnectionTasks, Callable[[Feature, bool], None]], FeatureContext],
        on_follow: Callable[[tuple[Feature, ...]], None],
    ) -> None:
        self._routes = routes
        self._follow = on_follow
        self._following: tuple[Feature, ...] = ()
        self.tasks = ConnectionTasks("dashboard")
        shared = context(self.tasks, self._follow_windows)
        self._features = [feature(shared) for feature in routes.features]
        for feature in self._features:
            feature.start()

    async def on_action(self, action: str, message: dict) -> None:
        """A client action one of the features declared, from the consumer."""
        await self._features[self._routes.actions[action]].on_action(action, message)

    async def on_user_event(self, kind: str, text: str) -> None:
        """A user event, from the consumer: to each feature that takes its kind."""
        for index in self._routes.kinds.get(kind, ()):
            await self._features[index].on_user_event(kind, text)

    async def stop(self) -> None:
        """Called at disconnect: each feature stopped, then their tasks cancelled."""
        self._follow_all(())
        try:
            for feature in self._features:
                await feature.stop()
        finally:
            await self.tasks.cancel()

    def _follow_windows(self, feature: Feature, following: bool) -> None:
        rest = tuple(f for f in self._following if f is not feature)
        self._follow_all((*rest, feature) if following else rest)

    def _follow_all(self, features: tuple[Feature, ...]) -> None:
        self._following = features
        self._follow(features)
