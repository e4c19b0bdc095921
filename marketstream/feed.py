"""DhanHQ v2 market-feed client on `websockets` (asyncio).

`FeedConnection` is one socket: connect with the v2 query string, subscribe in batches of
100, yield decoded packets. `run_feed` keeps a connection alive for a stream: backoff with
full jitter, resubscribe after every reconnect, a watchdog for silent sockets. The feed
thread of `marketstream.supervisor` owns both.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from marketstream.logredact import RedactingAdapter, redact
from marketstream.protocol import (
    MAX_INSTRUMENTS_PER_CONNECTION,
    DecodeError,
    Decoder,
    Disconnect,
    FeedMode,
    InstrumentKey,
    LtpScanner,
    Packet,
    disconnect_message,
    subscribe_messages,
    unsubscribe_messages,
)

logger = logging.getLogger(__name__)

MAX_CONNECTIONS_PER_CLIENT = 5
OPEN_TIMEOUT_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 3.0
# DhanHQ pings every 10 s; websockets answers. Our own pings catch dead TCP paths.
PING_INTERVAL_SECONDS = 20.0
PING_TIMEOUT_SECONDS = 20.0
MAX_FRAME_BYTES = 1 << 20

AUTH_REASONS = frozenset({806, 807, 808, 809, 810})
RATE_LIMIT_REASONS = frozenset({805})
REJECTED_REASONS = frozenset({804, 811, 812, 813, 814})


class FeedError(Exception):
    """The feed cannot go on as it is; `reason` is DhanHQ's disconnect code when known."""

    def __init__(self, message: str, *, reason: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class FeedAuthError(FeedError):
    """Credentials rejected (806-810, HTTP 401/403): retrying cannot help."""


class FeedRateLimitedError(FeedError):
    """Too many connections or requests (805, HTTP 429): cool off before retrying."""


class FeedLimitError(FeedError):
    """A DhanHQ limit would be exceeded (instruments per connection, connections)."""


class FeedRejectedError(FeedError):
    """DhanHQ refused the subscription itself (804, 811-814): the same request would fail
    again, so the stream stops with the reason."""


class FeedDisconnectedError(FeedError):
    """The socket closed or failed; reconnecting may help."""


def feed_url(base: str, *, client_id: str, access_token: str) -> str:
    """The v2 feed URL; the token is in the query string, so never log this."""
    query = urlencode({"version": 2, "token": access_token, "clientId": client_id, "authType": 2})
    return f"{base}?{query}"


def classify_disconnect(packet: Disconnect) -> FeedError:
    text = f"DhanHQ disconnected the feed: {packet.reason} {packet.description}"
    if packet.reason in AUTH_REASONS:
        return FeedAuthError(text, reason=packet.reason)
    if packet.reason in RATE_LIMIT_REASONS:
        return FeedRateLimitedError(text, reason=packet.reason)
    if packet.reason in REJECTED_REASONS:
        return FeedRejectedError(text, reason=packet.reason)
    return FeedDisconnectedError(text, reason=packet.reason)


@dataclass(frozen=True, slots=True)
class FeedCredentials:
    url: str
    client_id: str
    access_token: str

    def __repr__(self) -> str:  # never show the token
        return f"FeedCredentials(url={self.url!r}, client_id={self.client_id!r})"


class FeedConnection:
    """One DhanHQ feed socket. Use as `async with FeedConnection(...) as conn`."""

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
        try:
            self._ws = await websockets.connect(
                url,
                open_timeout=OPEN_TIMEOUT_SECONDS,
                close_timeout=CLOSE_TIMEOUT_SECONDS,
                ping_interval=PING_INTERVAL_SECONDS,
                ping_timeout=PING_TIMEOUT_SECONDS,
                max_size=MAX_FRAME_BYTES,
                proxy=None,
                logger=RedactingAdapter(
                    logging.getLogger("websockets.client"), secret=creds.access_token
                ),
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            message = f"feed handshake rejected with HTTP {status}"
            if status in (401, 403):
                raise FeedAuthError(message) from None
            if status == 429:
                raise FeedRateLimitedError(message) from None
            raise FeedDisconnectedError(message) from None
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            detail = redact(str(exc), secrets=(creds.access_token,))
            raise FeedDisconnectedError(
                f"cannot connect to {creds.url}: {type(exc).__name__}: {detail}"
            ) from None
        logger.info("feed connected to %s", creds.url)

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

    async def frames(self) -> AsyncIterator[bytes]:
        """Raw binary frames; text frames are counted as malformed and skipped."""
        if self._ws is None:
            raise FeedDisconnectedError("not connected")
        while True:
            try:
                frame = await self._ws.recv()
            except ConnectionClosed as exc:
                raise FeedDisconnectedError(f"feed closed: {exc}") from None
            if isinstance(frame, str):
                self.malformed_frames += 1
                logger.warning("feed sent a text frame (%d chars); skipped", len(frame))
                continue
            yield frame

    def malformed(self, error: DecodeError) -> None:
        self.malformed_frames += 1
        logger.warning("malformed feed frame skipped: %s", error)

    async def packets(self) -> AsyncIterator[list[Packet]]:
        """Decoded packets, one list per frame. Malformed frames are counted and skipped;
        a disconnect packet raises the matching FeedError."""
        async for frame in self.frames():
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
        """The feed's hot path: frames into `scanner` (latest LTP per key); yields the
        scanner's packet count after each frame."""
        async for frame in self.frames():
            try:
                disconnect = scanner.scan(frame)
            except DecodeError as exc:
                self.malformed(exc)
                continue
            if disconnect is not None:
                raise classify_disconnect(disconnect)
            yield scanner.packets

    async def close(self) -> None:
        """Say goodbye (code 12) when we can, then close; never hangs past the timeout."""
        ws, self._ws = self._ws, None
        if ws is None:
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await ws.send(disconnect_message())
        except (ConnectionClosed, TimeoutError, OSError):
            pass
        await ws.close()


# --- a connection kept alive --------------------------------------------------------

RECONNECT_BASE_DELAY_SECONDS = 0.5
RECONNECT_MAX_DELAY_SECONDS = 30.0
RATE_LIMIT_COOL_OFF_SECONDS = 60.0
WATCHDOG_SILENCE_SECONDS = 30.0
IDLE_INTERVAL_SECONDS = 0.25


def backoff_delay(attempt: int, *, rng: random.Random, base: float, cap: float) -> float:
    """Capped exponential backoff with full jitter (AWS architecture blog)."""
    return rng.uniform(0, min(cap, base * (2 ** min(attempt, 30))))


@dataclass(slots=True)
class FeedPolicy:
    """Timings of `run_feed`, injectable so tests run in seconds."""

    base_delay_seconds: float = RECONNECT_BASE_DELAY_SECONDS
    max_delay_seconds: float = RECONNECT_MAX_DELAY_SECONDS
    rate_limit_cool_off_seconds: float = RATE_LIMIT_COOL_OFF_SECONDS
    watchdog_silence_seconds: float = WATCHDOG_SILENCE_SECONDS
    max_auth_failures: int = 3

    @classmethod
    def from_settings(cls) -> FeedPolicy:
        from django.conf import settings

        return cls(
            max_delay_seconds=settings.DHANHQ_RECONNECT_MAX_DELAY_SECONDS,
            rate_limit_cool_off_seconds=settings.DHANHQ_RATE_LIMIT_COOL_OFF_SECONDS,
            watchdog_silence_seconds=settings.DHANHQ_WATCHDOG_SILENCE_SECONDS,
        )


class FeedEvents:
    """What `run_feed` reports to its owner; the supervisor overrides these."""

    async def connected(self, *, reconnects: int) -> None: ...

    async def received(self, packet_count: int) -> None:
        """A frame went into the scanner; `packet_count` is the scanner's running total."""

    async def disconnected(self, error: FeedError, *, delay_seconds: float) -> None: ...

    async def idle(self) -> None:
        """Called at least every IDLE_INTERVAL_SECONDS while the feed runs."""


async def run_feed(
    *,
    credentials: FeedCredentials,
    scanner: LtpScanner,
    keys: Sequence[InstrumentKey],
    mode: FeedMode,
    stop: asyncio.Event,
    events: FeedEvents,
    policy: FeedPolicy | None = None,
    rng: random.Random | None = None,
    connect: Callable[[FeedCredentials], Awaitable[FeedConnection]] | None = None,
) -> None:
    """Keep one subscribed connection until `stop` is set; every reconnect resubscribes all
    keys. Raises when retrying cannot help: FeedAuthError (after a few tries),
    FeedLimitError, FeedRejectedError. Disconnects and 800 retry for ever with backoff;
    805 and HTTP 429 cool off first."""
    policy = policy or FeedPolicy()
    rng = rng or random.Random()
    connect = connect or _open_connection
    attempt = auth_failures = reconnects = 0
    while not stop.is_set():
        delay = 0.0
        packets_before = scanner.packets
        try:
            conn = await connect(credentials)
            try:
                await conn.subscribe(list(keys), mode=mode)
                await events.connected(reconnects=reconnects)
                await _pump(conn, scanner=scanner, stop=stop, events=events, policy=policy)
                # Asked to stop: unsubscribe before saying goodbye, as a polite client does.
                await conn.unsubscribe(list(keys), mode=mode)
            finally:
                await conn.close()
        except (FeedLimitError, FeedRejectedError):
            raise
        except FeedRateLimitedError as exc:
            delay = policy.rate_limit_cool_off_seconds
            await events.disconnected(exc, delay_seconds=delay)
        except (FeedAuthError, FeedDisconnectedError) as exc:
            # An auth failure may be DhanHQ's glitch: a few quick retries, then give up.
            auth_failures += isinstance(exc, FeedAuthError)
            if auth_failures >= policy.max_auth_failures:
                raise
            delay = backoff_delay(
                attempt, rng=rng, base=policy.base_delay_seconds, cap=policy.max_delay_seconds
            )
            await events.disconnected(exc, delay_seconds=delay)
        if stop.is_set():
            break
        if scanner.packets > packets_before:  # prices flowed: the next failure starts afresh
            attempt = auth_failures = 0
        attempt += 1
        reconnects += 1
        await _sleep_or_stop(delay, stop=stop, events=events)


async def _open_connection(credentials: FeedCredentials) -> FeedConnection:
    conn = FeedConnection(credentials, decoder=Decoder())
    await conn.connect()
    return conn


async def _sleep_or_stop(seconds: float, *, stop: asyncio.Event, events: FeedEvents) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not stop.is_set() and loop.time() < deadline:
        await events.idle()
        try:
            remaining = max(0.0, deadline - loop.time())
            async with asyncio.timeout(min(IDLE_INTERVAL_SECONDS, remaining)):
                await stop.wait()
        except TimeoutError:
            pass


async def _pump(
    conn: FeedConnection,
    *,
    scanner: LtpScanner,
    stop: asyncio.Event,
    events: FeedEvents,
    policy: FeedPolicy,
) -> None:
    """Read frames until stop or failure; a socket silent for too long is a failure.

    One reader task for the whole connection (no task per frame); this loop wakes every
    IDLE_INTERVAL_SECONDS for the owner's housekeeping and the watchdog."""
    loop = asyncio.get_running_loop()
    last_frame = loop.time()

    async def read() -> None:
        nonlocal last_frame
        async for count in conn.scan(scanner):
            last_frame = loop.time()
            await events.received(count)

    reader = asyncio.create_task(read())
    stopper = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            done, _ = await asyncio.wait(
                {reader, stopper},
                timeout=IDLE_INTERVAL_SECONDS,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if reader in done:
                reader.result()  # raises the reader's FeedError
                raise FeedDisconnectedError("feed ended")
            await events.idle()
            if loop.time() - last_frame > policy.watchdog_silence_seconds:
                raise FeedDisconnectedError(
                    f"watchdog: no frame for {policy.watchdog_silence_seconds:.0f} s"
                )
    finally:
        for task in (reader, stopper):
            task.cancel()
        await asyncio.gather(reader, stopper, return_exceptions=True)
