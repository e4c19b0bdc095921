"""A local DhanHQ: the v2 market feed (WebSocket) and REST market quote, for the demo and
the tests. It speaks the real protocol, so the official `dhanhq` SDK works against it.

Run by `manage.py dhan_simulator`; tests start it in a thread with `DhanSimulator.start()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from marketstream.protocol import (
    MAX_INSTRUMENTS_PER_CONNECTION,
    SEGMENT_CODES,
    DepthLevel,
    FeedMode,
    Full,
    InstrumentKey,
    Quote,
    RequestError,
    TickGrid,
    encode_disconnect,
    encode_full,
    encode_market_status,
    encode_oi,
    encode_prev_close,
    encode_quote,
    encode_ticker,
    parse_request,
)

logger = logging.getLogger(__name__)

DEMO_CLIENT_ID = "1000000001"
DEMO_ACCESS_TOKEN = "demo-token"  # noqa: S105 - the simulator's public demo value
MAX_CONNECTIONS_PER_CLIENT = 5
REST_MAX_INSTRUMENTS = 1000
DERIVATIVE_SEGMENTS = frozenset({2, 3, 5, 7, 8})


@dataclass(slots=True)
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8765  # 0: any free port
    rest_port: int | None = None  # None: port + 1 (any free port when port is 0)
    client_id: str = DEMO_CLIENT_ID
    access_token: str = DEMO_ACCESS_TOKEN
    ticks_per_second: float = 2.0  # per subscribed instrument
    rest_requests_per_second: float = 1.0
    seed: int | None = None
    pack_frames: bool = False  # several packets per frame (DhanHQ sends one; we must cope)

    def __repr__(self) -> str:
        return f"SimulatorConfig(host={self.host!r}, port={self.port}, rest={self.rest_port})"


class PriceBook:
    """Simulated prices: a random walk on each instrument's tick grid. Thread-safe."""

    def __init__(
        self,
        *,
        tick_size: Callable[[InstrumentKey], float],
        base_prices: Mapping[str, float],
        rng: random.Random,
    ) -> None:
        self._tick_size = tick_size
        self._base = base_prices
        self._rng = rng
        self._lock = threading.Lock()
        self._state: dict[InstrumentKey, list] = {}  # key -> [grid, ticks, prev, open, hi, lo, vol]

    def _ensure(self, key: InstrumentKey) -> list:
        state = self._state.get(key)
        if state is None:
            grid = TickGrid.of(self._tick_size(key))
            base = self._base.get(str(key))
            if base is None:  # stable per security id, so restarts agree
                base = 50 + zlib.crc32(str(key).encode()) % 4950
            ticks = max(1, round(base * grid.scale / grid.units))
            state = [grid, ticks, ticks, ticks, ticks, ticks, 0]
            self._state[key] = state
        return state

    @staticmethod
    def _price(grid: TickGrid, ticks: int) -> float:
        return ticks * grid.units / grid.scale

    def step(self, key: InstrumentKey) -> float:
        with self._lock:
            state = self._ensure(key)
            state[1] = max(1, state[1] + self._rng.choice((-3, -2, -1, -1, 1, 1, 2, 3)))
            state[4], state[5] = max(state[4], state[1]), min(state[5], state[1])
            state[6] += self._rng.randint(1, 500)
            return self._price(state[0], state[1])

    def snapshot(self, key: InstrumentKey) -> dict[str, float]:
        with self._lock:
            grid, ticks, prev, opn, high, low, volume = self._ensure(key)
            p = self._price
            return {
                "ltp": p(grid, ticks),
                "prev_close": p(grid, prev),
                "open": p(grid, opn),
                "high": p(grid, high),
                "low": p(grid, low),
                "volume": volume,
                "tick": grid.units / grid.scale,
            }


@dataclass(eq=False)
class _Session:
    ws: ServerConnection
    client_id: str
    number: int
    subscriptions: dict[InstrumentKey, FeedMode] = field(default_factory=dict)


class DhanSimulator:
    """The simulator server. `start()` runs it in a background thread; `stop()` ends it."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        tick_size: Callable[[InstrumentKey], float] | None = None,
        base_prices: Mapping[str, float] | None = None,
    ) -> None:
        self.config = config or SimulatorConfig()
        rng = random.Random(self.config.seed)
        self.prices = PriceBook(
            tick_size=tick_size or (lambda key: 0.05), base_prices=base_prices or {}, rng=rng
        )
        self.silent = False  # keep sockets open but send nothing (watchdog tests)
        self.port = 0
        self.rest_port = 0
        self.connections_total = 0
        self.rest_calls = 0
        self.requests: list[tuple[int, dict | str]] = []  # (session number, request) log
        self._sessions: list[_Session] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._rest_last_request = 0.0
        self._rest_lock = threading.Lock()
        self._error: BaseException | None = None

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> DhanSimulator:
        self._thread = threading.Thread(target=self._run, name="dhan-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error:
            raise RuntimeError(f"simulator failed to start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._loop and self._stopping:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread:
            self._thread.join(10)
        self._stop_rest()

    def serve_forever(self) -> None:
        """Blocking run for the management command; returns on KeyboardInterrupt."""
        self._run()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start(); a thread cannot raise to it
            self._error = exc
            self._ready.set()
            if not isinstance(exc, (KeyboardInterrupt, OSError)):
                raise
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        cfg = self.config
        async with serve(self._handle, cfg.host, cfg.port, max_size=1 << 20) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._start_rest(
                cfg.rest_port if cfg.rest_port is not None else (cfg.port + 1 if cfg.port else 0)
            )
            logger.info(
                "DhanHQ simulator: feed ws://%s:%d, REST http://%s:%d/v2",
                cfg.host,
                self.port,
                cfg.host,
                self.rest_port,
            )
            self._ready.set()
            ticker = asyncio.create_task(self._tick_loop())
            await self._stopping.wait()
            ticker.cancel()
            for session in list(self._sessions):
                await session.ws.close()
        self._stop_rest()

    # --- test controls --------------------------------------------------------------

    def _call(self, coro_fn: Callable[[], object]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro_fn(), self._loop).result(5)

    def drop_connections(self) -> None:
        """Close every feed socket abruptly, as a network failure would."""

        async def drop() -> None:
            for session in list(self._sessions):
                session.ws.transport.abort()

        self._call(drop)

    def disconnect_all(self, reason: int) -> None:
        """Send a disconnect packet with `reason` to every client, then close."""

        async def send() -> None:
            for session in list(self._sessions):
                await self._refuse(session.ws, reason)

        self._call(send)

    @property
    def connection_count(self) -> int:
        return len(self._sessions)

    def subscribed_keys(self) -> set[InstrumentKey]:
        return {key for s in list(self._sessions) for key in list(s.subscriptions)}

    # --- feed -----------------------------------------------------------------------

    async def _refuse(self, ws: ServerConnection, reason: int) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(encode_disconnect(reason))
            await ws.close()

    async def _handle(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path).query)
        client_id = query.get("clientId", [""])[0]
        token = query.get("token", [""])[0]
        if query.get("version", [""])[0] != "2":
            await self._refuse(ws, 814)
            return
        if client_id != self.config.client_id:
            await self._refuse(ws, 808)
            return
        if token != self.config.access_token:
            await self._refuse(ws, 809)
            return
        self.connections_total += 1
        session = _Session(ws, client_id, self.connections_total)
        mine = [s for s in self._sessions if s.client_id == client_id]
        if len(mine) >= MAX_CONNECTIONS_PER_CLIENT:
            await self._refuse(mine[0].ws, 805)  # DhanHQ drops the OLDEST connection
        self._sessions.append(session)
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    continue  # the SDK follows code 12 with a legacy 83-byte header
                if not await self._on_request(session, message):
                    break
        except ConnectionClosed:
            pass
        finally:
            self._sessions.remove(session)

    async def _on_request(self, session: _Session, message: str) -> bool:
        try:
            request = parse_request(message)
        except RequestError as exc:
            self.requests.append((session.number, message))
            await self._refuse(session.ws, exc.reason)
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
            await self._refuse(session.ws, 804)
            return False
        for key in request.keys:
            session.subscriptions[key] = request.mode
        # DhanHQ sends the previous close on every subscribe.
        frames = [
            encode_prev_close(key, prev_close=self.prices.snapshot(key)["prev_close"])
            for key in request.keys
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

    async def _tick_loop(self) -> None:
        interval = 1.0 / max(self.config.ticks_per_second, 0.01)
        first = True
        while True:
            await asyncio.sleep(interval)
            if self.silent:
                continue
            sessions = list(self._sessions)
            stepped: dict[InstrumentKey, float] = {}
            for session in sessions:
                for key in list(session.subscriptions):
                    if key not in stepped:
                        stepped[key] = self.prices.step(key)
            now = int(time.time())
            for session in sessions:
                frames = [encode_market_status(InstrumentKey(0, 0))] if first else []
                frames += [
                    self._packet(key, mode, now)
                    for key, mode in list(session.subscriptions.items())
                ]
                await self._send(session, frames)
            first = False

    def _packet(self, key: InstrumentKey, mode: FeedMode, now: int) -> bytes:
        s = self.prices.snapshot(key)
        if mode == FeedMode.TICKER:
            return encode_ticker(key, ltp=s["ltp"], ltt=now)
        volume = int(s["volume"])
        if mode == FeedMode.QUOTE:
            quote = encode_quote(
                Quote(
                    key.segment,
                    key.security_id,
                    s["ltp"],
                    25,
                    now,
                    (s["high"] + s["low"]) / 2,
                    volume,
                    volume // 2,
                    volume // 3,
                    s["open"],
                    s["prev_close"],
                    s["high"],
                    s["low"],
                )
            )
            if key.segment in DERIVATIVE_SEGMENTS:
                quote += encode_oi(key, oi=volume * 10)
            return quote
        tick = s["tick"]
        depth = tuple(
            DepthLevel(
                100 * (i + 1),
                120 * (i + 1),
                i + 1,
                i + 2,
                s["ltp"] - tick * (i + 1),
                s["ltp"] + tick * (i + 1),
            )
            for i in range(5)
        )
        return encode_full(
            Full(
                key.segment,
                key.security_id,
                s["ltp"],
                25,
                now,
                (s["high"] + s["low"]) / 2,
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

    # --- REST -----------------------------------------------------------------------

    def _start_rest(self, port: int) -> None:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                status, body = simulator.rest_request(
                    self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
                )
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                logger.debug("simulator REST: " + format, *args)

        self._http = ThreadingHTTPServer((self.config.host, port), Handler)
        self._http.daemon_threads = True
        self.rest_port = self._http.server_port
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, name="dhan-simulator-rest", daemon=True
        )
        self._http_thread.start()

    def _stop_rest(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.shutdown()
            http.server_close()

    def rest_request(
        self, path: str, *, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict]:
        """POST /v2/marketfeed/{ltp,ohlc,quote} in DhanHQ's JSON shape."""
        self.rest_calls += 1
        kind = path.rstrip("/").rsplit("/", 1)[-1]
        if not path.startswith("/v2/marketfeed/") or kind not in {"ltp", "ohlc", "quote"}:
            return HTTPStatus.NOT_FOUND, _rest_error("DH-905", "Input_Exception", "no such API")
        if (
            headers.get("access-token") != self.config.access_token
            or headers.get("client-id") != self.config.client_id
        ):
            return HTTPStatus.UNAUTHORIZED, _rest_error(
                "DH-901",
                "Invalid_Authentication",
                "Client ID or user generated access token is invalid or expired.",
            )
        with self._rest_lock:
            now = time.monotonic()
            if now - self._rest_last_request < 1.0 / self.config.rest_requests_per_second:
                return HTTPStatus.TOO_MANY_REQUESTS, _rest_error(
                    "DH-904", "Rate_Limit", "Too many requests on server from single user"
                )
            self._rest_last_request = now
        try:
            request = json.loads(body or b"{}")
            wanted = [
                (seg, int(sid))
                for seg, ids in request.items()
                if seg != "dhanClientId"
                for sid in ids
            ]
        except (ValueError, TypeError, AttributeError):
            return HTTPStatus.BAD_REQUEST, _rest_error("DH-905", "Input_Exception", "bad body")
        if len(wanted) > REST_MAX_INSTRUMENTS or any(s not in SEGMENT_CODES for s, _ in wanted):
            return HTTPStatus.BAD_REQUEST, _rest_error(
                "DH-905", "Input_Exception", "up to 1000 instruments of known segments"
            )
        data: dict[str, dict[str, dict]] = {}
        for seg, sid in wanted:
            snap = self.prices.snapshot(InstrumentKey(SEGMENT_CODES[seg], sid))
            data.setdefault(seg, {})[str(sid)] = _rest_entry(kind, snap)
        return HTTPStatus.OK, {"data": data, "status": "success"}


def _rest_error(code: str, kind: str, message: str) -> dict:
    return {"errorType": kind, "errorCode": code, "errorMessage": message}


def _rest_entry(kind: str, snap: dict[str, float]) -> dict:
    entry: dict = {"last_price": snap["ltp"]}
    if kind in ("ohlc", "quote"):
        entry["ohlc"] = {
            "open": snap["open"],
            "close": snap["prev_close"],
            "high": snap["high"],
            "low": snap["low"],
        }
    if kind == "quote":
        entry.update(
            volume=int(snap["volume"]),
            net_change=round(snap["ltp"] - snap["prev_close"], 2),
            last_trade_time=time.strftime("%d/%m/%Y %H:%M:%S"),
        )
    return entry
