"""A throttling stand-in for DhanHQ's Data API, for the history tests: `POST
/v2/charts/historical` and `POST /v2/charts/intraday` in DhanHQ's column-array shape (and
`POST /v2/marketfeed/quote` for the after-close job), on an HTTP server in a thread.

Its bars are deterministic, on a 0.05 grid, and sent as float32 values (2845.05 goes out
as 2845.050048828125), so a client that stores them exactly must snap them;
`daily_bars`/`minute_bars`/`quote_bar` say what it serves, exactly. Like DhanHQ it refuses
past 5 calls in any rolling second (429 `DH-904`, `Retry-After: 1`), answers 403 `DH-902`
for an account without the Data API (`no_data_api`), 400 `DH-905` for a range without bars
or an intraday range over 90 days, and can answer `DH-904` on purpose (`refuse_next`). It
records every call: arrival time, path, key, fromDate, toDate and the status answered.
"""

from __future__ import annotations

import collections
import json
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dhan.clock import ist_midnight

CLIENT_ID = "1100000077"
ACCESS_TOKEN = "stub-token-5d1e9c"
CALLS_PER_SECOND = 5
TICK_PAISE = 5  # a 0.05 grid
BASE_TICKS = {2885: 56_901}  # RELIANCE at 2845.05; others from their security id
SESSION_OPEN_SECONDS = (9 * 60 + 15) * 60  # 09:15 IST
MAX_INTRADAY_SECONDS = 90 * 86_400
CHART_PATHS = ("/v2/charts/historical", "/v2/charts/intraday")
THREAD_JOIN_SECONDS = 30.0
QUOTE_PATH = "/v2/marketfeed/quote"


@dataclass(frozen=True, slots=True)
class Call:
    at: float  # time.monotonic() on arrival
    path: str
    key: str  # SEG:SID ("" for a quote)
    first: str  # fromDate as sent
    to: str  # toDate as sent
    status: int
    body: dict  # the whole request body


class MemoryGate:
    """`dhan.rest.RateGate` in this process (the deployment's is on Django's cache): a
    slot frees `spacing_seconds` after it was taken; `hold_off` shuts it for longer."""

    def __init__(self, spacing_seconds: float) -> None:
        self._spacing = spacing_seconds
        self._next = 0.0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                return False
            self._next = now + self._spacing
            return True

    def hold_off(self, seconds: float) -> None:
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)


def busiest_second(times: list[float]) -> int:
    """The most calls in any 1-second window [t, t + 1) over `times`: every window that
    holds the most starts at a call, so checking those windows checks them all."""
    ordered = sorted(times)
    return max((sum(1 for u in ordered if t <= u < t + 1.0) for t in ordered), default=0)


def fetch_concurrently(clients: list, fetch: Callable[[Any], None]) -> None:
    """`fetch(client)` for each of `clients` at once, on a thread each; waits for all."""
    threads = [threading.Thread(target=fetch, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_JOIN_SECONDS)
    assert not any(t.is_alive() for t in threads), "a fetch hung"


def calls_of(stub: HistoryStub, since: int = 0) -> set[tuple[str, str, str]]:
    """(key, fromDate, toDate) of the chart calls answered (not 429) from `since` on."""
    return {(c.key, c.first, c.to) for c in stub.chart_calls()[since:] if c.status != 429}


def make_instruments(using: str, *sids: int, segment: str = "NSE_EQ") -> list[str]:
    """Instrument rows on the stub's 0.05 grid in database `using`; their keys."""
    from prices.models import Instrument

    for sid in sids:
        Instrument.objects.using(using).create(
            exchange_segment=segment,
            security_id=sid,
            exchange="NSE",
            trading_symbol=f"SYM{sid}",
            instrument_type="FUTSTK" if segment == "NSE_FNO" else "EQUITY",
            tick_size=Decimal("0.05"),
        )
    return [f"{segment}:{sid}" for sid in sids]


def float32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _rupees(ticks: int) -> float:
    return ticks * TICK_PAISE / 100


def _day_ticks(sid: int, day: date) -> int:
    base = BASE_TICKS.get(sid, 2_000 + sid % 9_000)
    return base + (day.toordinal() * 7 + sid) % 41


def daily_bar(key: str, day: date) -> tuple:
    """The stub's bar of `day` (a weekday), exactly: (t, o, h, l, c, v, oi)."""
    sid = int(key.partition(":")[2])
    ticks = _day_ticks(sid, day)
    prices = [_rupees(ticks + d) for d in (0, 3, -2, 1)]
    oi = 50_000 + sid % 997 if key.startswith("NSE_FNO") else None
    return (ist_midnight(day), *prices, 1_000 + (day.toordinal() * 13 + sid) % 5_000, oi)


def daily_bars(key: str, first: date, last: date) -> list[tuple]:
    """Every bar the stub has of `first`..`last` (both included)."""
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [daily_bar(key, d) for d in days if d.weekday() < 5]


class HistoryStub:
    """The server; `start` binds a free port (`url` is the base URL for the SDK)."""

    def __init__(self, *, session_minutes: int = 375) -> None:
        self.session_minutes = session_minutes
        self.calls: list[Call] = []
        self.no_data_api = False
        self.quote_day: date | None = None  # the day the quotes' last trades are on
        self._refuse = 0
        self._served: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_port}/v2"

    def start(self) -> HistoryStub:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.shutdown()
            http.server_close()

    def refuse_next(self, count: int = 1) -> None:
        """Answer the next `count` chart calls 429 `DH-904`, whatever the rate."""
        with self._lock:
            self._refuse += count

    def chart_calls(self, *, status: int | None = None) -> list[Call]:
        with self._lock:
            calls = list(self.calls)
        return [c for c in calls if c.path in CHART_PATHS and status in (None, c.status)]

    def minute_bars(self, key: str, day: date) -> list[tuple]:
        """The stub's 1-minute bars of `day` (a weekday), exactly."""
        sid = int(key.partition(":")[2])
        base, start = _day_ticks(sid, day), ist_midnight(day) + SESSION_OPEN_SECONDS
        out = []
        for m in range(self.session_minutes):
            ticks = base + (m * 3) % 17 - 8
            prices = [_rupees(ticks + d) for d in (0, 2, -1, 1)]
            out.append((start + 60 * m, *prices, 10 + (m * 7 + day.toordinal()) % 100, None))
        return out

    def quote_bar(self, key: str, day: date) -> tuple:
        """The day bar the stub's market quote of `key` gives (t, o, h, l, c, v, oi)."""
        t, o, h, lo, c, v, _ = daily_bar(key, day)
        return (t, o, h + 0.5, lo, c, v * 3, None)

    def answer(self, path: str, headers: dict[str, str], body: dict) -> tuple[int, dict]:
        """One request: (status, JSON body), recorded with its arrival time."""
        arrived = time.monotonic()
        status, answer = self._answer(path, headers, body)
        key = (
            "" if path == QUOTE_PATH else f"{body.get('exchangeSegment')}:{body.get('securityId')}"
        )
        first, to = str(body.get("fromDate", "")), str(body.get("toDate", ""))
        call = Call(arrived, path, key, first, to, status, body)
        with self._lock:
            self.calls.append(call)
        return status, answer

    def _answer(self, path: str, headers: dict[str, str], body: dict) -> tuple[int, dict]:
        if headers.get("client-id") != CLIENT_ID or headers.get("access-token") != ACCESS_TOKEN:
            return 401, _error("DH-901", "Client ID or user generated access token is invalid")
        if path == QUOTE_PATH:
            return 200, self._quotes(body)
        if path not in CHART_PATHS:
            return 404, _error("DH-905", "no such API")
        if self.no_data_api:
            return 403, _error("DH-902", "Client has not subscribed to Data APIs")
        if not self._admit():
            return 429, _error("DH-904", "Too many requests on server from single user")
        try:
            start, end = _instant(body["fromDate"]), _instant(body["toDate"])
            key = f"{body['exchangeSegment']}:{int(body['securityId'])}"
        except (KeyError, ValueError):
            return 400, _error("DH-905", "Missing required fields, bad values for parameters")
        intraday = path.endswith("intraday")
        if start > end or (intraday and end - start > MAX_INTRADAY_SECONDS):
            return 400, _error("DH-905", "Missing required fields, bad values for parameters")
        bars = self._bars(key, start, end, intraday=intraday)
        if not bars:  # DhanHQ answers a range without bars so
            return 400, _error("DH-905", "System is unable to fetch data: no data present")
        return 200, _columns(bars, oi=bool(body.get("oi")))

    def _admit(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._refuse:
                self._refuse -= 1
                return False
            while self._served and now - self._served[0] >= 1.0:
                self._served.popleft()
            if len(self._served) >= CALLS_PER_SECOND:
                return False
            self._served.append(now)
            return True

    def _bars(self, key: str, start: int, end: int, *, intraday: bool) -> list[tuple]:
        first = date.fromordinal(date(1970, 1, 1).toordinal() + (start + 19_800) // 86_400)
        last = date.fromordinal(date(1970, 1, 1).toordinal() + (end - 1 + 19_800) // 86_400)
        if not intraday:
            return [b for b in daily_bars(key, first, last) if start <= b[0] < end]
        days = (first + timedelta(days=n) for n in range((last - first).days + 1))
        minutes = [b for d in days if d.weekday() < 5 for b in self.minute_bars(key, d)]
        return [b for b in minutes if start <= b[0] < end]

    def _quotes(self, body: dict) -> dict:
        day = self.quote_day or date.today()
        data: dict[str, dict] = {}
        for segment, ids in body.items():
            if segment == "dhanClientId":
                continue
            for sid in ids:
                _, o, h, lo, c, v, _ = self.quote_bar(f"{segment}:{sid}", day)
                data.setdefault(segment, {})[str(sid)] = {
                    "last_price": float32(c),
                    "ohlc": {
                        "open": float32(o),
                        "high": float32(h),
                        "low": float32(lo),
                        "close": 1.0,
                    },
                    "volume": v,
                    "last_trade_time": day.strftime("%d/%m/%Y") + " 15:29:59",
                }
        return {"data": data, "status": "success"}


def _instant(text: str) -> int:
    """`YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`, IST wall clock, as Unix seconds."""
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(str(text), fmt)  # IST wall clock
        except ValueError:
            continue
        return ist_midnight(moment.date()) + moment.hour * 3600 + moment.minute * 60
    raise ValueError(text)


def _columns(bars: list[tuple], *, oi: bool) -> dict:
    answer = {
        "open": [float32(b[1]) for b in bars],
        "high": [float32(b[2]) for b in bars],
        "low": [float32(b[3]) for b in bars],
        "close": [float32(b[4]) for b in bars],
        "volume": [b[5] for b in bars],
        "timestamp": [b[0] for b in bars],
    }
    if oi:
        answer["open_interest"] = [b[6] or 0 for b in bars]
    return answer


def _error(code: str, message: str) -> dict:
    kinds = {"DH-901": "Invalid_Authentication", "DH-902": "Invalid_Authentication"}
    kind = kinds.get(code, "Rate_Limit" if code == "DH-904" else "Input_Exception")
    return {"errorType": kind, "errorCode": code, "errorMessage": message}


def _handler(stub: HistoryStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = stub.answer(self.path, headers, body if isinstance(body, dict) else {})
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status == HTTPStatus.TOO_MANY_REQUESTS:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
