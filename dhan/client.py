"""DhanHQ WebSocket clients on `websockets` (asyncio).

`open_socket` opens any DhanHQ socket the same way: our timeouts and keepalive, no proxy, a
logger that redacts the token (DhanHQ puts it in the query string), handshake refusals
classified. `FeedConnection` is one market-feed socket: the v2 query string, subscribe in
batches of 100, decoded packets. Keeping a connection alive is the supervisor's job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from dhan.decoder import Decoder
from dhan.errors import (
    FeedDisconnectedError,
    FeedError,
    FeedLimitError,
    classify_http_status,
    classify_reason,
)
from dhan.limits import MAX_INSTRUMENTS_PER_CONNECTION
from dhan.packets import DecodeError, Disconnect, Packet
from dhan.redact import RedactingAdapter, redact
from dhan.requests import FeedMode, disconnect_message, subscribe_messages, unsubscribe_messages
from dhan.scanner import LtpScanner
from dhan.segments import InstrumentKey

logger = logging.getLogger(__name__)

OPEN_TIMEOUT_SECONDS = 10.0
# A stop waits for the close handshake at most this long (stops are honoured within 2 s).
CLOSE_TIMEOUT_SECONDS = 1.0
# DhanHQ pings every 10 s; websockets answers. Our own pings catch dead TCP paths.
PING_INTERVAL_SECONDS = 20.0
PING_TIMEOUT_SECONDS = 20.0
MAX_FRAME_BYTES = 1 << 20


def classify_disconnect(packet: Disconnect) -> FeedError:
    return classify_reason(packet.reason)


@dataclass(frozen=True, slots=True)
class FeedCredentials:
    url: str
    client_id: str
    access_token: str

    def __repr__(self) -> str:  # never show the token
        return f"FeedCredentials(url={self.url!r}, client_id={self.client_id!r})"


def feed_url(base: str, *, client_id: str, access_token: str) -> str:
    """The v2 feed URL; the token is in the query string, so never log this."""
    query = urlencode({"version": 2, "token": access_token, "clientId": client_id, "authType": 2})
    return f"{base}?{query}"


async def open_socket(url: str, *, secret: str, what: str) -> websockets.ClientConnection:
    """Open a DhanHQ WebSocket. Raises FeedAuthError, FeedRateLimitedError or
    FeedDisconnectedError; no message carries `secret`."""
    try:
        ws = await websockets.connect(
            url,
            open_timeout=OPEN_TIMEOUT_SECONDS,
            close_timeout=CLOSE_TIMEOUT_SECONDS,
            ping_interval=PING_INTERVAL_SECONDS,
            ping_timeout=PING_TIMEOUT_SECONDS,
            max_size=MAX_FRAME_BYTES,
            proxy=None,
            logger=RedactingAdapter(logging.getLogger("websockets.client"), secret=secret),
        )
    except InvalidStatus as exc:
        raise classify_http_status(exc.response.status_code, what=what) from None
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        detail = redact(str(exc), secrets=(secret,))
        base = redact(url.partition("?")[0], secrets=(secret,))
        raise FeedDisconnectedError(
            f"cannot connect to {base}: {type(exc).__name__}: {detail}"
        ) from None
    logger.info("%s connected to %s", what, redact(url.partition("?")[0], secrets=(secret,)))
    return ws


async def socket_frames(
    ws: websockets.ClientConnection | None, *, what: str
) -> AsyncIterator[bytes | str]:
    """Every frame of a DhanHQ socket as received; its close is a FeedDisconnectedError
    naming `what` (every kind's upstream reads its frames through this)."""
    if ws is None:
        raise FeedDisconnectedError("not connected")
    while True:
        try:
            yield await ws.recv()
        except ConnectionClosed as exc:
            raise FeedDisconnectedError(f"{what} closed: {exc}") from None


async def close_socket(ws: websockets.ClientConnection, *, goodbye: str | None = None) -> None:
    """Say goodbye when we can, then close; never waits past CLOSE_TIMEOUT_SECONDS each."""
    if goodbye is not None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await ws.send(goodbye)
        except (ConnectionClosed, TimeoutError, OSError):
            pass
    await ws.close()


class FeedConnection:
    """One DhanHQ market-feed socket. Use as `async with FeedConnection(...) as conn`."""

    def __init__(self, credentials: FeedCredentials, *, decoder: Decoder) -> None:
        self._credentials = credentials
        self._decoder = decoder
        self._ws: websockets.ClientConnection | None = None
        self.malformed_frames = 0

    async def __aenter__(self) -> FeedConnection:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        creds = self._credentials
        url = feed_url(creds.url, client_id=creds.client_id, access_token=creds.access_token)
        self._ws = await open_socket(url, secret=creds.access_token, what="feed")

    async def _send(self, text: str) -> None:
        if self._ws is None:
            raise FeedDisconnectedError("not connected")
        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            await self._raise_unread_disconnect()
            raise FeedDisconnectedError(f"feed closed while sending: {exc}") from None

    async def _raise_unread_disconnect(self) -> None:
        """DhanHQ sends its reason (a code-50 packet) and closes at once: the reason may be
        waiting unread when a send fails. Raise it if so; it decides whether to retry."""
        assert self._ws is not None
        while True:
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                    frame = await self._ws.recv()
            except (ConnectionClosed, TimeoutError):
                return
            if isinstance(frame, str):
                continue
            try:
                packets = self._decoder.decode(frame)
            except DecodeError:
                continue
            for packet in packets:
                if isinstance(packet, Disconnect):
                    raise classify_disconnect(packet)

    async def subscribe(self, keys: Sequence[InstrumentKey], *, mode: FeedMode) -> None:
        if len(set(keys)) > MAX_INSTRUMENTS_PER_CONNECTION:
            raise FeedLimitError(
                f"{len(set(keys))} instruments exceed DhanHQ's "
                f"{MAX_INSTRUMENTS_PER_CONNECTION} per connection"
            )
        for message in subscribe_messages(keys, mode=mode):
            await self._send(message)

    async def unsubscribe(self, keys: Sequence[InstrumentKey], *, mode: FeedMode) -> None:
        for message in unsubscribe_messages(keys, mode=mode):
            await self._send(message)

    def frames(self) -> AsyncIterator[bytes | str]:
        """Every frame as received, text or binary, until the socket closes."""
        return socket_frames(self._ws, what="feed")

    def malformed(self, error: DecodeError | str) -> None:
        self.malformed_frames += 1
        logger.warning("malformed feed frame skipped: %s", error)

    async def binary_frames(self) -> AsyncIterator[bytes]:
        """Binary frames; text frames are counted as malformed and skipped."""
        async for frame in self.frames():
            if isinstance(frame, str):
                self.malformed(f"a text frame ({len(frame)} chars)")
                continue
            yield frame

    async def packets(self) -> AsyncIterator[list[Packet]]:
        """Decoded packets, one list per frame. Malformed frames are counted and skipped;
        a disconnect packet raises the matching FeedError."""
        async for frame in self.binary_frames():
            try:
                packets = self._decoder.decode(frame)
            except DecodeError as exc:
                self.malformed(exc)
                continue
            for packet in packets:
                if isinstance(packet, Disconnect):
                    raise classify_disconnect(packet)
            yield packets

    async def scan(self, scanner: LtpScanner) -> AsyncIterator[int]:
        """Frames into `scanner` (latest LTP per key); yields the scanner's packet count
        after each frame."""
        async for frame in self.binary_frames():
            try:
                disconnect = scanner.scan(frame)
            except DecodeError as exc:
                self.malformed(exc)
                continue
            if disconnect is not None:
                raise classify_disconnect(disconnect)
            yield scanner.packets

    async def close(self) -> None:
        """Say goodbye (code 12) when we can, then close; never hangs past the timeouts."""
        ws, self._ws = self._ws, None
        if ws is not None:
            await close_socket(ws, goodbye=disconnect_message())
