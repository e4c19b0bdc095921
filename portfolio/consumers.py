"""`{"action": "subscribe_portfolio"}` on `/ws/dashboard/`: a signed-in user's portfolio
now (`portfolio_update`), then again once per window in which a price of one of its lines
changed; the lines are re-read every half minute and soon after one of the user's orders
trades. A mixin of the dashboard consumer (`marketstream.consumers`)."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

from channels.db import database_sync_to_async

from portfolio.valuation import value
from portfolio.views import as_json, prices_of, user_lines
from prices.windows import LTP

RELOAD_SECONDS = 30.0
AFTER_TRADE_SECONDS = 3.0  # the refresh task's REST calls have answered by then


@database_sync_to_async
def _load(user_id: int):
    lines = user_lines(user_id)
    ltp, closes = prices_of(sorted({line.key for line in lines}))
    return lines, ltp, closes


class PortfolioUpdates:
    async def connect(self) -> None:
        self.portfolio_user: int | None = None
        self._portfolio: tuple | None = None  # (lines, ltp, closes)
        self._portfolio_loaded = 0.0
        await super().connect()

    async def on_action(self, action: object, message: dict) -> bool:
        if action != "subscribe_portfolio":
            return await super().on_action(action, message)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._error("sign in to get your portfolio")
            return True
        self.portfolio_user = user.pk
        await self._reload_portfolio()
        await self._send({"type": "ack", "action": "subscribe_portfolio"})
        await self._send_portfolio()
        return True

    async def _reload_portfolio(self) -> None:
        self._portfolio = await _load(self.portfolio_user)
        self._portfolio_loaded = time.monotonic()

    async def _send_portfolio(self) -> None:
        lines, ltp, closes = self._portfolio
        payload = {"type": "portfolio_update", "portfolio": as_json(value(lines, ltp, closes))}
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))

    def window_now(self, event: dict) -> bool:
        """A client with a portfolio is valued in `ltp_window`, awaited."""
        return self._portfolio is None and super().window_now(event)

    async def ltp_window(self, event: dict) -> None:
        await super().ltp_window(event)
        if self._portfolio is None:
            return
        if time.monotonic() - self._portfolio_loaded >= RELOAD_SECONDS:
            await self._reload_portfolio()
        lines, ltp, _ = self._portfolio
        prices = self.live.windows.values(event, LTP)
        changed = {line.key for line in lines if line.key in prices}
        if changed:
            ltp.update((key, Decimal(repr(float(prices[key])))) for key in changed)
            await self._send_portfolio()

    async def order_event(self, event: dict) -> None:
        """One of the user's orders changed: if it traded, the lines change soon (never
        waited for here: the fan-out hands this event to other clients too)."""
        await super().order_event(event)
        text = event.get("text", "")
        if self._portfolio is not None and ('"traded"' in text or '"partial_fill"' in text):
            loop = asyncio.get_running_loop()
            loop.call_later(AFTER_TRADE_SECONDS, lambda: loop.create_task(self._after_trade()))

    async def _after_trade(self) -> None:
        await self._reload_portfolio()
        await self._send_portfolio()
