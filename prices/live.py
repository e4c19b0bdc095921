"""This web process's live-price services, in one object: the broadcaster, the fan-out,
the windows' payload cache and the process's depth watchers. One per web process, made
and stopped by the process's runtime (`marketstream.runtime`); consumers and views find
it in their ASGI scope under `"live"`, put there by `LivePricesMiddleware`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from asgiref.typing import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from channels.middleware import BaseMiddleware

from prices.broadcast import Broadcaster
from prices.cache import LocalPriceStore
from prices.depthwatch import DepthWatchers, LocalDepthInterest, depth_interest
from prices.fanout import LocalFanout
from prices.windows import WindowCache

STOP_TIMEOUT_SECONDS = 2.0  # a web process's shutdown never waits longer for these


class LivePrices:
    """Owner of the process's broadcasting and fan-out tasks; `stop()` ends both."""

    def __init__(
        self,
        *,
        status: Callable[[], str] | None = None,
        local_store: LocalPriceStore | None = None,
        local_interest: LocalDepthInterest | None = None,
    ) -> None:
        self.windows = WindowCache()
        self.fanout = LocalFanout()
        interest = depth_interest(local_interest)
        self.broadcaster = Broadcaster(
            status=status, local_store=local_store, depth_interest=interest
        )
        self.depth_watchers = DepthWatchers(interest)

    def ensure_started(self) -> None:
        """On the serving loop, as a client connects: idempotent."""
        self.broadcaster.ensure_running()

    async def stop(self) -> None:
        """Release the broadcaster's lead first (another process takes over at once), then
        leave the group; each bounded by STOP_TIMEOUT_SECONDS."""
        for stop in (self.broadcaster.stop, self.depth_watchers.stop, self.fanout.stop):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop(), STOP_TIMEOUT_SECONDS)


class LivePricesMiddleware(BaseMiddleware):
    """Puts the process's `LivePrices` in every scope (WebSocket consumers, and the HTTP
    views that report on them)."""

    def __init__(self, inner: ASGI3Application, live: LivePrices) -> None:
        super().__init__(inner)
        self.live = live

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        return await super().__call__({**scope, "live": self.live}, receive, send)
