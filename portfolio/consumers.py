"""`/ws/dashboard/`'s portfolio feature: `{"action": "subscribe_portfolio"}` gives a
signed-in user's portfolio now (`portfolio_update`), then again once per window in which
a price of one of its lines changed; the lines are re-read every half minute and soon
after one of the user's orders trades (an "order" event on the user's push path). Made
per connection by the composed consumer (`prices.composition`), which
`marketstream.consumers` names it in."""

from __future__ import annotations

import json
import time
from decimal import Decimal

from channels.db import database_sync_to_async

from portfolio.valuation import value
from portfolio.views import as_json, prices_of, user_lines
from prices.features import Feature, FeatureContext
from prices.windows import LTP

RELOAD_SECONDS = 30.0
AFTER_TRADE_SECONDS = 3.0  # the refresh task's REST calls have answered by then
TRADE_EVENTS = frozenset({"traded", "partial_fill"})  # an `order_update`'s that move lines


@database_sync_to_async
def _load(user_id: int):
    lines = user_lines(user_id)
    ltp, closes = prices_of(sorted({line.key for line in lines}))
    return lines, ltp, closes


def _traded(order_update: str) -> bool:
    try:
        return json.loads(order_update).get("event") in TRADE_EVENTS
    except (ValueError, AttributeError):  # not the contract's order_update: not a fill
        return False


class PortfolioFeature(Feature):
    __slots__ = ("_loaded_at", "_portfolio")
    actions = frozenset({"subscribe_portfolio"})
    # "order": a fill changes the lines soon; "portfolio": a `portfolio_update` the server
    # pushes for the user, passed on.
    user_event_kinds = frozenset({"order", "portfolio"})
    after_trade_seconds = AFTER_TRADE_SECONDS

    def __init__(self, context: FeatureContext) -> None:
        super().__init__(context)
        self._portfolio: tuple | None = None  # (lines, ltp, closes) once subscribed
        self._loaded_at = -RELOAD_SECONDS

    async def on_action(self, action: str, message: dict) -> None:
        """`subscribe_portfolio`, from the client: the portfolio now, then per window."""
        if self.context.user_id is None:
            await self.context.error("sign in to get your portfolio")
            return
        await self._reload()
        await self.context.send({"type": "ack", "action": "subscribe_portfolio"})
        await self._send_portfolio()
        self.context.follow_windows(self, True)

    async def on_window(self, event: dict) -> None:
        """Each window: the portfolio again if a price of one of its lines changed."""
        if self._portfolio is None:
            return
        if time.monotonic() - self._loaded_at >= RELOAD_SECONDS:
            await self._reload()
        lines, ltp, _ = self._portfolio
        prices = self.context.live.windows.values(event, LTP)
        changed = {line.key for line in lines if line.key in prices}
        if changed:
            ltp.update((key, Decimal(repr(float(prices[key])))) for key in changed)
            await self._send_portfolio()

    async def on_user_event(self, kind: str, text: str) -> None:
        """One of the user's orders changed: if it traded, the lines change soon (never
        waited for here: the fan-out hands events to other clients too). Or a
        `portfolio_update` for the user: passed on, the lines re-read at the next window."""
        if self._portfolio is None:
            return
        if kind == "portfolio":
            self._loaded_at = -RELOAD_SECONDS
            await self.context.send_text(text)
        elif _traded(text):
            tasks = self.context.tasks
            tasks.later(self.after_trade_seconds, self._after_trade, name="portfolio-after-trade")

    async def _after_trade(self) -> None:
        await self._reload()
        await self._send_portfolio()

    async def _reload(self) -> None:
        self._portfolio = await _load(self.context.user_id)
        self._loaded_at = time.monotonic()

    async def _send_portfolio(self) -> None:
        lines, ltp, closes = self._portfolio
        portfolio = as_json(value(lines, ltp, closes))
        await self.context.send({"type": "portfolio_update", "portfolio": portfolio})
