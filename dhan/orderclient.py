"""DhanHQ's orders over the wire: `OrderUpdateConnection`, one live order-update socket on
`websockets`, opened like every DhanHQ socket (`client.open_socket`), then logged in with
MsgCode 42 (the URL carries no token, the login frame does: it is never logged); and
`todays_order_book`, the REST order book through the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import websockets
from dhanhq import DhanContext, dhanhq
from websockets.exceptions import ConnectionClosed

from dhan.client import FeedCredentials, close_socket, open_socket, socket_frames
from dhan.errors import FeedDisconnectedError
from dhan.orders import login_message
from dhan.redact import redact


class OrderUpdateConnection:
    def __init__(self, credentials: FeedCredentials) -> None:
        self._credentials = credentials
        self._ws: websockets.ClientConnection | None = None

    async def connect(self) -> None:
        creds = self._credentials
        self._ws = await open_socket(creds.url, secret=creds.access_token, what="order updates")
        try:
            await self._ws.send(login_message(creds.client_id, creds.access_token))
        except ConnectionClosed as exc:
            raise FeedDisconnectedError(f"order socket closed at login: {exc.rcvd}") from None

    def frames(self) -> AsyncIterator[bytes | str]:
        return socket_frames(self._ws, what="order socket")

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            await close_socket(ws)


class OrderBookError(Exception):
    """`GET /v2/orders` did not answer with an order book."""


def todays_order_book(
    *, base_url: str, client_id: str, access_token: str, timeout_seconds: float = 5.0
) -> list[dict]:
    """Today's orders of one client id through REST (`GET /v2/orders`, the SDK's
    `get_order_list`): what the order socket may have missed while it was away."""
    context = DhanContext(client_id, access_token)
    http = context.get_dhan_http()
    http.base_url = base_url
    http.timeout = timeout_seconds
    response = dhanhq(context).get_order_list()
    if response.get("status") != "success":
        remarks = redact(str(response.get("remarks")), secrets=(access_token,))
        raise OrderBookError(f"order book unavailable: {remarks[:200]}")
    data = response.get("data")
    if not isinstance(data, list):
        raise OrderBookError("order book: not a list")
    return [row for row in data if isinstance(row, dict)]
