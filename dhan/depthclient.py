"""`DepthConnection`: one DhanHQ 20-level depth socket on `websockets`, opened like every
DhanHQ socket (`client.open_socket`: our timeouts, a redacting logger, refusals
classified). Subscribe and unsubscribe send one JSON message of up to 50 instruments
(`depth.depth_messages`); the frames are decoded by `depth.decode_depth`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import websockets
from websockets.exceptions import ConnectionClosed

from dhan.client import FeedCredentials, close_socket, open_socket, socket_frames
from dhan.depth import SUBSCRIBE_DEPTH, UNSUBSCRIBE_DEPTH, depth_messages, depth_url
from dhan.errors import FeedDisconnectedError
from dhan.segments import InstrumentKey


class DepthConnection:
    """One 20-level depth socket; keeping it alive is the connection runner's job."""

    def __init__(self, credentials: FeedCredentials) -> None:
        self._credentials = credentials
        self._ws: websockets.ClientConnection | None = None

    async def connect(self) -> None:
        creds = self._credentials
        url = depth_url(creds.url, client_id=creds.client_id, access_token=creds.access_token)
        self._ws = await open_socket(url, secret=creds.access_token, what="depth feed")

    async def _send(self, messages: list[str]) -> None:
        if self._ws is None:
            raise FeedDisconnectedError("not connected")
        try:
            for message in messages:
                await self._ws.send(message)
        except ConnectionClosed as exc:
            raise FeedDisconnectedError(f"depth feed closed while sending: {exc}") from None

    async def subscribe(self, keys: Sequence[InstrumentKey]) -> None:
        await self._send(depth_messages(SUBSCRIBE_DEPTH, keys))

    async def unsubscribe(self, keys: Sequence[InstrumentKey]) -> None:
        await self._send(depth_messages(UNSUBSCRIBE_DEPTH, keys))

    def frames(self) -> AsyncIterator[bytes | str]:
        return socket_frames(self._ws, what="depth feed")

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            await close_socket(ws)
