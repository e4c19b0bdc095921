"""The simulator's market feed: DhanHQ's v2 WebSocket (query string checked against every
configured account: 808/809 for a wrong client id or token, 807 for an expired one;
subscribe and unsubscribe in all three modes, prev close on subscribe for indices, 805 for
a sixth connection, 804 past 5000 instruments), ticking every subscribed instrument. Its
packets' LTT is on DhanHQ's clock (IST wall-clock seconds, `dhan.clock`), and every step
is recorded as the day's minutes (`minutes.MinuteRecorder`) that the chart API serves.
Served by `server.DhanSimulator`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from dhan.clock import feed_ltt
from dhan.limits import MAX_CONNECTIONS_PER_CLIENT, MAX_INSTRUMENTS_PER_CONNECTION
from dhan.packets import (
    DepthLevel,
    Full,
    Quote,
    encode_disconnect,
    encode_full,
    encode_market_status,
    encode_oi,
    encode_prev_close,
    encode_quote,
    encode_ticker,
)
from dhan.requests import FeedMode, RequestError, parse_request
from dhan.segments import InstrumentKey
from dhan.simulator.book import PriceBook
from dhan.simulator.config import SimulatorConfig
from dhan.simulator.history import DERIVATIVE_SEGMENTS
from dhan.simulator.minutes import MinuteRecorder

FULL_DEPTH_LEVELS = 5
INDEX_SEGMENT = 0


@dataclass(eq=False)
class _Session:
    ws: ServerConnection
    client_id: str
    number: int
    subscriptions: dict[InstrumentKey, FeedMode] = field(default_factory=dict)


class FeedServer:
    """The feed's sessions and tick loop; its handler is given to `websockets.serve`."""

    def __init__(
        self,
        config: SimulatorConfig,
        prices: PriceBook,
        *,
        recorder: MinuteRecorder | None = None,
        after_tick: Callable[[dict[InstrumentKey, float]], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.prices = prices
        self.recorder = recorder or MinuteRecorder()
        self._clock = clock
        self._after_tick = after_tick  # the depth feed ticks with the market feed
        self.silent = False  # keep sockets open but send nothing (watchdog tests)
        self.connections_total = 0
        self.requests: list[tuple[int, dict | str]] = []  # (session number, request) log
        self.sessions: list[_Session] = []

    async def refuse(self, ws: ServerConnection, reason: int) -> None:
        """Send a disconnect packet with `reason`, then close."""
        with contextlib.suppress(ConnectionClosed):
            await ws.send(encode_disconnect(reason))
            await ws.close()

    async def handle(self, ws: ServerConnection) -> None:
        """One client connection, from handshake to close (given to `websockets.serve`)."""
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        client_id = query.get("clientId", [""])[0]
        token = query.get("token", [""])[0]
        if query.get("version", [""])[0] != "2":
            await self.refuse(ws, 814)
            return
        reason = self.config.auth_refusal(client_id, token)  # 808, 809 or 807
        if reason is not None:
            await self.refuse(ws, reason)
            return
        self.connections_total += 1
        session = _Session(ws, client_id, self.connections_total)
        mine = [s for s in self.sessions if s.client_id == client_id]
        if len(mine) >= MAX_CONNECTIONS_PER_CLIENT:
            await self.refuse(mine[0].ws, 805)  # DhanHQ drops the OLDEST connection
        self.sessions.append(session)
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    continue  # the SDK follows code 12 with a legacy 83-byte header
                if not await self._on_request(session, message):
                    break
        except ConnectionClosed:
            pass
        finally:
            self.sessions.remove(session)

    async def _on_request(self, session: _Session, message: str) -> bool:
        try:
            request = parse_request(message)
        except RequestError as exc:
            self.requests.append((session.number, message))
            await self.refuse(session.ws, exc.reason)
            return False
        self.requests.append((session.number, json.loads(message)))
        if request is None:  # code 12: the client says goodbye
            await session.ws.close()
            return False
        if not request.is_subscribe:
            for key in request.keys:
                session.subscriptions.pop(key, None)
            return True
        new = [k for k in request.keys if k not in session.subscriptions]
        if len(session.subscriptions) + len(new) > MAX_INSTRUMENTS_PER_CONNECTION:
            await self.refuse(session.ws, 804)
            return False
        for key in request.keys:
            session.subscriptions[key] = request.mode
        # DhanHQ sends a previous-close packet on subscribe for indices only; equities and
        # derivatives carry it in the quote and full packets' `close` field.
        frames = [
            encode_prev_close(key, prev_close=self.prices.snapshot(key)["prev_close"])
            for key in request.keys
            if key.segment == INDEX_SEGMENT
        ]
        await self._send(session, frames)
        return True

    async def _send(self, session: _Session, frames: list[bytes]) -> None:
        if not frames:
            return
        with contextlib.suppress(ConnectionClosed):
            if self.config.pack_frames:
                await session.ws.send(b"".join(frames))
            else:
                for frame in frames:
                    await session.ws.send(frame)

    async def tick_loop(self) -> None:
        """Step and send every subscribed instrument, `ticks_per_second` times a second."""
        interval = 1.0 / max(self.config.ticks_per_second, 0.01)
        first = True
        while True:
            await asyncio.sleep(interval)
            if self.silent:
                continue
            sessions = list(self.sessions)
            stepped: dict[InstrumentKey, float] = {}
            for session in sessions:
                for key in list(session.subscriptions):
                    if key not in stepped:
                        stepped[key] = self.prices.step(key)
            # One second for the packets' LTT and the recorded minute, read after the
            # steps and recorded before any await, so a minute read as complete is.
            now = int(self._clock())
            snapshots = self._record(stepped, now)
            for session in sessions:
                frames = [encode_market_status(InstrumentKey(0, 0))] if first else []
                frames += [  # a key subscribed since the steps waits for the next tick
                    build_packet(key, mode, feed_ltt(now), snapshots[key], self.prices)
                    for key, mode in list(session.subscriptions.items())
                    if key in snapshots
                ]
                await self._send(session, frames)
            first = False
            if self._after_tick is not None:
                await self._after_tick(stepped)
                self._record({k: p for k, p in stepped.items() if k not in snapshots}, now)

    def _record(self, stepped: dict[InstrumentKey, float], now: int) -> dict[InstrumentKey, dict]:
        """Each stepped key's book after its step, recorded in the day's minutes."""
        snapshots = {key: self.prices.snapshot(key) for key in stepped}
        for key, s in snapshots.items():
            self.recorder.record(key, now=now, ltp=s["ltp"], volume=int(s["volume"]))
        return snapshots


def build_packet(
    key: InstrumentKey, mode: FeedMode, ltt: int, s: dict[str, float], book: PriceBook
) -> bytes:
    """The packet DhanHQ would send for `key` in `mode` with last trade time `ltt` (IST
    wall-clock seconds), from the price book's snapshot (and, in full mode, the top 5
    levels of its order book)."""
    if mode == FeedMode.TICKER:
        return encode_ticker(key, ltp=s["ltp"], ltt=ltt)
    if mode == FeedMode.QUOTE:
        quote = _quote(key, ltt, s)
        if key.segment in DERIVATIVE_SEGMENTS:
            quote += encode_oi(key, oi=int(s["volume"]) * 10)
        return quote
    return _full(key, ltt, s, book)


def _quote(key: InstrumentKey, ltt: int, s: dict[str, float]) -> bytes:
    volume = int(s["volume"])
    atp = (s["high"] + s["low"]) / 2
    return encode_quote(
        Quote(
            key.segment,
            key.security_id,
            s["ltp"],
            25,
            ltt,
            atp,
            volume,
            volume // 2,
            volume // 3,
            s["open"],
            s["prev_close"],
            s["high"],
            s["low"],
        )
    )


def _full(key: InstrumentKey, ltt: int, s: dict[str, float], book: PriceBook) -> bytes:
    volume, ltp = int(s["volume"]), s["ltp"]
    bids, asks = book.depth(key, FULL_DEPTH_LEVELS)
    depth = tuple(
        DepthLevel(bid[1], ask[1], bid[2], ask[2], bid[0], ask[0])
        for bid, ask in zip(bids, asks, strict=True)
    )
    atp = (s["high"] + s["low"]) / 2
    return encode_full(
        Full(
            key.segment,
            key.security_id,
            ltp,
            25,
            ltt,
            atp,
            volume,
            volume // 2,
            volume // 3,
            volume * 10,
            volume * 11,
            volume * 9,
            s["open"],
            s["prev_close"],
            s["high"],
            s["low"],
            depth,
        )
    )
