"""The simulator's REST market quote: `POST /v2/marketfeed/{ltp,ohlc,quote}` in DhanHQ's
JSON shapes, headers checked, at most 1000 instruments and 1 request per second (429 with
`Retry-After`), DhanHQ's error codes. Served by `server.DhanSimulator` on its own thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dhan.limits import REST_MAX_INSTRUMENTS
from dhan.segments import SEGMENT_CODES, InstrumentKey
from dhan.simulator.book import PriceBook
from dhan.simulator.config import SimulatorConfig

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
KINDS = frozenset({"ltp", "ohlc", "quote"})


class RestServer:
    """An HTTP server on a thread of its own; `rest_request` is the logic, testable alone."""

    def __init__(self, config: SimulatorConfig, prices: PriceBook) -> None:
        self.config = config
        self.prices = prices
        self.port = 0
        self.calls = 0
        self.call_times: list[float] = []  # each request's arrival, time.monotonic()
        self.rejections = 0  # answered 429
        self._last_request = 0.0
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None

    def start(self, port: int) -> None:
        self._http = ThreadingHTTPServer((self.config.host, port), _handler(self))
        self._http.daemon_threads = True
        self.port = self._http.server_port
        threading.Thread(
            target=self._http.serve_forever, name="dhan-simulator-rest", daemon=True
        ).start()

    def stop(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.shutdown()
            http.server_close()

    def rest_request(
        self, path: str, *, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict]:
        """One request, answered in DhanHQ's JSON shape: (status, body)."""
        with self._lock:
            self.calls += 1
            self.call_times.append(time.monotonic())
        kind = path.rstrip("/").rsplit("/", 1)[-1]
        if not path.startswith("/v2/marketfeed/") or kind not in KINDS:
            return HTTPStatus.NOT_FOUND, _error("DH-905", "Input_Exception", "no such API")
        if (
            headers.get("access-token") != self.config.access_token
            or headers.get("client-id") != self.config.client_id
        ):
            return HTTPStatus.UNAUTHORIZED, _error(
                "DH-901",
                "Invalid_Authentication",
                "Client ID or user generated access token is invalid or expired.",
            )
        if not self._within_rate():
            return HTTPStatus.TOO_MANY_REQUESTS, _error(
                "DH-904", "Rate_Limit", "Too many requests on server from single user"
            )
        return self._answer(kind, body)

    def _within_rate(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._last_request < 1.0 / self.config.rest_requests_per_second:
                self.rejections += 1
                return False
            self._last_request = now
            return True

    def _answer(self, kind: str, body: bytes) -> tuple[int, dict]:
        try:
            request = json.loads(body or b"{}")
            wanted = [
                (seg, int(sid))
                for seg, ids in request.items()
                if seg != "dhanClientId"
                for sid in ids
            ]
        except (ValueError, TypeError, AttributeError):
            return HTTPStatus.BAD_REQUEST, _error("DH-905", "Input_Exception", "bad body")
        if len(wanted) > REST_MAX_INSTRUMENTS or any(s not in SEGMENT_CODES for s, _ in wanted):
            return HTTPStatus.BAD_REQUEST, _error(
                "DH-905", "Input_Exception", "up to 1000 instruments of known segments"
            )
        data: dict[str, dict[str, dict]] = {}
        for seg, sid in wanted:
            snap = self.prices.snapshot(InstrumentKey(SEGMENT_CODES[seg], sid))
            data.setdefault(seg, {})[str(sid)] = _entry(kind, snap)
        return HTTPStatus.OK, {"data": data, "status": "success"}


def _handler(server: RestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            status, body = server.rest_request(
                self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
            )
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status == HTTPStatus.TOO_MANY_REQUESTS:
                self.send_header("Retry-After", str(RETRY_AFTER_SECONDS))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("simulator REST: " + format, *args)

    return Handler


def _error(code: str, kind: str, message: str) -> dict:
    return {"errorType": kind, "errorCode": code, "errorMessage": message}


def _entry(kind: str, snap: dict[str, float]) -> dict:
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
