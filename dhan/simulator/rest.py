"""The simulator's REST API, DhanHQ's v2 paths and JSON shapes, headers `access-token` and
`client-id` checked against every configured account (401 `DH-901` for a wrong or expired
token), served by `server.DhanSimulator` on its own thread:

- the market quote, `POST /v2/marketfeed/{ltp,ohlc,quote}`: at most 1000 instruments and
  1 request per second per client id (429 `DH-904` with `Retry-After`);
- orders (`orders.OrderBook`), at most `order_requests_per_second` per client id:
  `POST /v2/orders` (`{"orderId", "orderStatus"}`: TRANSIT, or REJECTED for a bad order),
  `GET /v2/orders` (the client's orders of the day, newest first), `GET /v2/orders/{id}`,
  `GET /v2/orders/external/{correlation-id}` and `DELETE /v2/orders/{id}` (cancel an open
  order). An unknown order, another client's, or cancelling one that is no longer open:
  400 `DH-906`;
- the profile, `GET /v2/profile`: DhanHQ knows the account by its `access-token` alone
  and answers its `dhanClientId` (MarketStream checks a token with it before storing it);
- price history, `POST /v2/charts/{historical,intraday}` (`charts.ChartServer`), and the
  simulator's own `GET /simulator/data-calls`: each client id's Data API call counts.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dhan.limits import REST_MAX_INSTRUMENTS
from dhan.segments import SEGMENT_CODES, InstrumentKey
from dhan.simulator.answers import (
    auth_error,
    error_body,
    input_error,
    quote_entry,
    rate_limit_error,
)
from dhan.simulator.book import PriceBook
from dhan.simulator.charts import CHART_PATHS, ChartServer
from dhan.simulator.config import SimulatorConfig
from dhan.simulator.orders import Order, OrderBook, OrderError
from dhan.simulator.ordershapes import book_row
from dhan.simulator.portfolio import holdings_rows, positions_rows

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
TOKEN_VALIDITY_SECONDS = 24 * 60 * 60  # DhanHQ's access tokens last a day
KINDS = frozenset({"ltp", "ohlc", "quote"})
ORDERS_PATH = "/v2/orders"
POSITIONS_PATH, HOLDINGS_PATH = "/v2/positions", "/v2/holdings"
PORTFOLIO_PATHS = (POSITIONS_PATH, HOLDINGS_PATH)
PROFILE_PATH = "/v2/profile"
DATA_CALLS_PATH = "/simulator/data-calls"  # the simulator's own, not DhanHQ's
CORRELATION_PATH = "/v2/orders/external/"
ORDER_ERROR_MESSAGE = "Incorrect request for order and cannot be processed"


class RestServer:
    """An HTTP server on a thread of its own; `rest_request` is the logic, testable alone."""

    def __init__(
        self, config: SimulatorConfig, prices: PriceBook, orders: OrderBook, charts: ChartServer
    ) -> None:
        self.config = config
        self.prices = prices
        self.orders = orders
        self.charts = charts
        self.port = 0
        self.calls = 0
        self.call_times: list[float] = []  # each request's arrival, time.monotonic()
        self.rejections = 0  # market quote requests answered 429
        self.order_rejections = 0  # order requests answered 429
        self._last_request: dict[str, float] = {}  # client id -> last market quote
        self._order_times: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None

    def start(self, port: int) -> None:
        self._http = ThreadingHTTPServer((self.config.host, port), _handler(self))
        self._http.daemon_threads = True
        self.port = self._http.server_port
        threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},  # a stop waits at most this for the loop
            name="dhan-simulator-rest",
            daemon=True,
        ).start()

    def stop(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.shutdown()
            http.server_close()

    def rest_request(
        self, path: str, *, headers: Mapping[str, str], body: bytes, method: str = "POST"
    ) -> tuple[int, dict | list]:
        """One request, answered in DhanHQ's JSON shape: (status, body). `calls` and
        `call_times` count all but the Data API's, which `charts` counts."""
        route = path.partition("?")[0].rstrip("/")
        if route in CHART_PATHS and method == "POST":
            return self.charts.request(route, headers=headers, body=body)
        if route == DATA_CALLS_PATH and method == "GET":
            return HTTPStatus.OK, self.charts.counts_json()
        with self._lock:
            self.calls += 1
            self.call_times.append(time.monotonic())
        kind = route.rsplit("/", 1)[-1]
        market = route.startswith("/v2/marketfeed/") and kind in KINDS and method == "POST"
        orders = route == ORDERS_PATH or route.startswith(ORDERS_PATH + "/")
        portfolio = route in PORTFOLIO_PATHS and method == "GET"
        orders = orders or portfolio
        if route == PROFILE_PATH and method == "GET":
            return self._profile(headers.get("access-token", ""))
        if not market and not orders:
            return HTTPStatus.NOT_FOUND, input_error("no such API")
        client_id = headers.get("client-id", "")
        if self.config.auth_refusal(client_id, headers.get("access-token", "")) is not None:
            return HTTPStatus.UNAUTHORIZED, auth_error()
        if not (self._within_rate(client_id) if market else self._within_order_rate(client_id)):
            return HTTPStatus.TOO_MANY_REQUESTS, rate_limit_error()
        if market:
            return self._answer(kind, body)
        if portfolio:
            return HTTPStatus.OK, self._portfolio(route, client_id)
        return self._order_request(method, route, client_id, body)

    def _profile(self, token: str) -> tuple[int, dict]:
        """`GET /v2/profile`: the account whose token this is (the `client-id` header is not
        needed), in DhanHQ's shape; 401 `DH-901` for a token no live account holds."""
        owner = next((c for c, t in self.config.account_tokens().items() if t == token), None)
        if not token or owner is None or self.config.auth_refusal(owner, token) is not None:
            return HTTPStatus.UNAUTHORIZED, auth_error()
        valid_until = time.localtime(time.time() + TOKEN_VALIDITY_SECONDS)
        return HTTPStatus.OK, {
            "dhanClientId": owner,
            "tokenValidity": time.strftime("%d/%m/%Y %H:%M", valid_until),
            "activeSegment": "Equity, Derivative, Currency, Commodity",
            "ddpi": "Active",
            "mtf": "Active",
            "dataPlan": "Deactive" if owner in self.config.no_data_api else "Active",
            "dataValidity": time.strftime("%Y-%m-%d %H:%M:%S.0", valid_until),
        }

    def _portfolio(self, route: str, client_id: str) -> list[dict]:
        if route == POSITIONS_PATH:
            return positions_rows(self.orders.orders_of(client_id))
        return holdings_rows(self.config.holdings.get(client_id, []), symbol=self.orders.symbol_of)

    def _within_rate(self, client_id: str) -> bool:
        with self._lock:
            now = time.monotonic()
            last = self._last_request.get(client_id, float("-inf"))
            if now - last < 1.0 / self.config.rest_requests_per_second:
                self.rejections += 1
                return False
            self._last_request[client_id] = now
            return True

    def _within_order_rate(self, client_id: str) -> bool:
        """At most `order_requests_per_second` in any second, per client id."""
        with self._lock:
            now = time.monotonic()
            times = self._order_times.setdefault(client_id, collections.deque())
            while times and now - times[0] >= 1.0:
                times.popleft()
            if len(times) >= self.config.order_requests_per_second:
                self.order_rejections += 1
                return False
            times.append(now)
            return True

    def _order_request(
        self, method: str, route: str, client_id: str, body: bytes
    ) -> tuple[int, dict | list]:
        order_id = route[len(ORDERS_PATH) + 1 :]
        if method == "POST" and not order_id:
            return self._place(client_id, body)
        if method == "GET" and not order_id:
            return HTTPStatus.OK, [book_row(o) for o in self.orders.orders_of(client_id)]
        if method == "GET" and route.startswith(CORRELATION_PATH):
            order = self.orders.by_correlation(client_id, route[len(CORRELATION_PATH) :])
            return _row_or_error(order, "no order with that correlation id")
        if method == "GET" and "/" not in order_id:
            return _row_or_error(self.orders.get(client_id, order_id), f"no order {order_id}")
        if method == "DELETE" and order_id and "/" not in order_id:
            try:
                order = self.orders.cancel(client_id, order_id)
            except OrderError as exc:
                return HTTPStatus.BAD_REQUEST, _order_error(str(exc))
            return HTTPStatus.OK, {"orderId": order.order_id, "orderStatus": order.status}
        return HTTPStatus.NOT_FOUND, input_error("no such API")

    def _place(self, client_id: str, body: bytes) -> tuple[int, dict]:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return HTTPStatus.BAD_REQUEST, input_error("bad body")
        if request.get("dhanClientId") not in (None, "", client_id):
            return HTTPStatus.BAD_REQUEST, input_error("dhanClientId is not the client-id header's")
        order = self.orders.place(client_id, request)
        return HTTPStatus.OK, {"orderId": order.order_id, "orderStatus": order.status}

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
            return HTTPStatus.BAD_REQUEST, input_error("bad body")
        if len(wanted) > REST_MAX_INSTRUMENTS or any(s not in SEGMENT_CODES for s, _ in wanted):
            return HTTPStatus.BAD_REQUEST, input_error("up to 1000 instruments of known segments")
        data: dict[str, dict[str, dict]] = {}
        for seg, sid in wanted:
            snap = self.prices.snapshot(InstrumentKey(SEGMENT_CODES[seg], sid))
            data.setdefault(seg, {})[str(sid)] = quote_entry(kind, snap)
        return HTTPStatus.OK, {"data": data, "status": "success"}


def _handler(server: RestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            status, body = server.rest_request(
                self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
                method=self.command,
            )
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status == HTTPStatus.TOO_MANY_REQUESTS:
                self.send_header("Retry-After", str(RETRY_AFTER_SECONDS))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("simulator REST: " + format, *args)

    return Handler


def _order_error(detail: str) -> dict:
    return error_body("DH-906", "Order_Error", f"{ORDER_ERROR_MESSAGE}: {detail}")


def _row_or_error(order: Order | None, detail: str) -> tuple[int, dict]:
    if order is None:
        return HTTPStatus.BAD_REQUEST, _order_error(detail)
    return HTTPStatus.OK, book_row(order)
