"""The simulator's test controls for accounts, orders and the order-update socket, mixed
into `server.DhanSimulator` (which provides the attributes named below)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.exceptions import ConnectionClosed

from dhan.depth import encode_depth_disconnect
from dhan.simulator.config import TOKEN_EXPIRED, SimulatorConfig
from dhan.simulator.depth import DepthServer
from dhan.simulator.feed import FeedServer
from dhan.simulator.orders import OrderBook
from dhan.simulator.ordersocket import OrderSocketServer


class AccountAndOrderControls:
    config: SimulatorConfig
    feed: FeedServer
    depth: DepthServer
    orders: OrderBook
    order_socket: OrderSocketServer
    _call: Callable[[Callable[[], Coroutine[Any, Any, object]]], None]
    _loop: asyncio.AbstractEventLoop | None
    _refusing: concurrent.futures.Future | None = None  # keeps expire_token's task alive

    # --- accounts ---------------------------------------------------------------------

    def set_token(self, client_id: str, token: str) -> None:
        """Give `client_id` a new access token (a renewed token, or a new account)."""
        if client_id == self.config.client_id:
            self.config.access_token = token
        else:
            self.config.accounts[client_id] = token

    def expire_token(self, client_id: str) -> None:
        """`client_id`'s current token expires now. From now on it is refused as DhanHQ
        refuses an expired token: feed and depth with reason 807, REST with 401 `DH-901`,
        the order socket with its error frame ("807") and close 4001. The account's open
        sockets get the same and are closed, just after this returns (a test's own event
        loop may have to answer their closing handshakes)."""
        token = self.config.account_tokens()[client_id]
        self.config.expired.add((client_id, token))

        async def refuse() -> None:
            for session in [s for s in list(self.feed.sessions) if s.client_id == client_id]:
                await self.feed.refuse(session.ws, TOKEN_EXPIRED)
            for depth in [s for s in list(self.depth.sessions) if s.client_id == client_id]:
                with contextlib.suppress(ConnectionClosed):
                    await depth.ws.send(encode_depth_disconnect(TOKEN_EXPIRED))
                    await depth.ws.close()
            await self.order_socket.refuse_client(client_id, str(TOKEN_EXPIRED))

        if self._loop is not None:
            self._refusing = asyncio.run_coroutine_threadsafe(refuse(), self._loop)

    # --- orders -----------------------------------------------------------------------

    def expire_open_orders(self) -> int:
        """The market closes: every open order (TRANSIT, PENDING, PART_TRADED) EXPIRED.
        Returns how many."""
        return self.orders.expire_open()

    def order_statuses(self, order_id: str) -> list[str]:
        """Every status `order_id` has had, in order."""
        return [status for _, oid, status in list(self.orders.history) if oid == order_id]

    # --- the order-update socket ------------------------------------------------------

    @property
    def order_socket_logins(self) -> int:
        """Good logins on the order-update socket, ever."""
        return self.order_socket.logins

    @property
    def order_socket_count(self) -> int:
        """Order-update sockets logged in now."""
        return len(self.order_socket.sessions)

    @property
    def order_alerts_sent(self) -> list[tuple[str, str]]:
        """(client id, message text) for every alert sent, one per socket it went to."""
        return self.order_socket.alerts_sent

    @property
    def refuse_order_sockets(self) -> bool:
        """While set, order-socket handshakes are refused (HTTP 503)."""
        return self.order_socket.refuse_handshakes

    @refuse_order_sockets.setter
    def refuse_order_sockets(self, value: bool) -> None:
        self.order_socket.refuse_handshakes = value

    def drop_order_sockets(self) -> None:
        """Abort every order-update socket, as a network failure would."""

        async def drop() -> None:
            self.order_socket.drop_all()

        self._call(drop)

    def order_sockets_down(self, seconds: float) -> None:
        """Drop every order-update socket and refuse new handshakes (HTTP 503) for
        `seconds`."""
        self.order_socket.down_until = time.monotonic() + seconds
        self.drop_order_sockets()
