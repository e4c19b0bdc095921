"""The simulator's 20-level depth feed: DhanHQ's `/twentydepth` WebSocket (query string
`token`, `clientId`, `authType=2` of any configured account; 808/809 for a wrong client id
or token, 807 for an expired one), JSON subscribe (23) and unsubscribe (24, or 25 as the
annexure says) of at most 50 instruments, NSE_EQ and NSE_FNO only, answered with binary
frames that stack a bid (41) and an ask (51) packet per instrument, every instrument of
the connection in one frame. The book is the price book's (`book.PriceBook.depth`), the
one the market feed's full packets show 5 levels of.
Served by `server.DhanSimulator` on the feed's port, path `/twentydepth`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from dhan.depth import (
    SUBSCRIBE_DEPTH,
    UNSUBSCRIBE_DEPTH_CODES,
    DepthRow,
    encode_depth_disconnect,
    encode_depth_side,
)
from dhan.limits import DEPTH_LEVELS, DEPTH_SEGMENTS, MAX_DEPTH_INSTRUMENTS_PER_CONNECTION
from dhan.segments import InstrumentKey, InstrumentKeyError
from dhan.simulator.book import PriceBook
from dhan.simulator.config import SimulatorConfig

DEPTH_PATH = "/twentydepth"


@dataclass(eq=False)
class DepthSession:
    ws: ServerConnection
    number: int
    client_id: str = ""
    subscriptions: set[InstrumentKey] = field(default_factory=set)
    sequence: int = 0


class DepthServer:
    """The depth feed's sessions and its tick loop (`handle` is routed by path)."""

    def __init__(self, config: SimulatorConfig, prices: PriceBook) -> None:
        self.config = config
        self.prices = prices
        self.sessions: list[DepthSession] = []
        self.connections_total = 0
        self.closed_at: list[float] = []  # loop time of every session's end (idle tests)
        self.requests: list[tuple[int, dict | str]] = []

    def subscribed_keys(self) -> set[InstrumentKey]:
        return {key for s in list(self.sessions) for key in list(s.subscriptions)}

    async def handle(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        client_id = query.get("clientId", [""])[0]
        reason = self.config.auth_refusal(client_id, query.get("token", [""])[0])
        if reason is not None:  # 808, 809 or 807
            await _refuse(ws, reason)
            return
        self.connections_total += 1
        session = DepthSession(ws, self.connections_total, client_id)
        self.sessions.append(session)
        try:
            async for message in ws:
                if isinstance(message, str) and not await self._on_request(session, message):
                    break
        except ConnectionClosed:
            pass
        finally:
            self.sessions.remove(session)
            self.closed_at.append(asyncio.get_running_loop().time())

    async def _on_request(self, session: DepthSession, message: str) -> bool:
        """One JSON request; False ends the session (a malformed request or too many)."""
        try:
            body = json.loads(message)
            code = body["RequestCode"]
            keys = [_key(i) for i in body.get("InstrumentList", [])]
        except (ValueError, KeyError, TypeError, InstrumentKeyError):
            self.requests.append((session.number, message))
            await _refuse(session.ws, 814)
            return False
        self.requests.append((session.number, body))
        if code in UNSUBSCRIBE_DEPTH_CODES:
            session.subscriptions.difference_update(keys)
            return True
        if code != SUBSCRIBE_DEPTH:
            await _refuse(session.ws, 814)
            return False
        # DhanHQ serves 20-level depth for NSE_EQ and NSE_FNO only: others get nothing.
        wanted = session.subscriptions | {k for k in keys if k.segment_name in DEPTH_SEGMENTS}
        if len(wanted) > MAX_DEPTH_INSTRUMENTS_PER_CONNECTION:
            await _refuse(session.ws, 804)
            return False
        session.subscriptions = wanted
        await self._send(session, set(keys) & wanted)
        return True

    def frame(self, session: DepthSession, keys: set[InstrumentKey]) -> bytes:
        """Bid and ask packets of every key, stacked in one frame."""
        parts = []
        for key in sorted(keys):
            bids, asks = self.prices.depth(key, DEPTH_LEVELS)
            session.sequence += 1
            for side, rows in (("bid", bids), ("ask", asks)):
                parts.append(
                    encode_depth_side(
                        key,
                        side=side,
                        rows=[DepthRow(*row) for row in rows],
                        sequence=session.sequence,
                    )
                )
        return b"".join(parts)

    async def _send(self, session: DepthSession, keys: set[InstrumentKey]) -> None:
        if keys:
            with contextlib.suppress(ConnectionClosed):
                await session.ws.send(self.frame(session, keys))

    async def tick(self, stepped: dict[InstrumentKey, float]) -> None:
        """After the feed's tick: step what only depth watchers hold, then send every
        session its books."""
        for session in list(self.sessions):
            for key in session.subscriptions:
                if key not in stepped:
                    stepped[key] = self.prices.step(key)
        for session in list(self.sessions):
            await self._send(session, set(session.subscriptions))

    async def close_all(self) -> None:
        for session in list(self.sessions):
            await session.ws.close()


def _key(item: dict) -> InstrumentKey:
    return InstrumentKey.parse(f"{item['ExchangeSegment']}:{int(item['SecurityId'])}")


async def _refuse(ws: ServerConnection, reason: int) -> None:
    with contextlib.suppress(ConnectionClosed):
        await ws.send(encode_depth_disconnect(reason))
        await ws.close()
