"""The simulator's Data API, DhanHQ's `POST /v2/charts/historical` (daily bars, `toDate`
not included) and `POST /v2/charts/intraday` (1, 5, 15, 25 or 60 minutes, at most 90 days
a call), answered from `archive.PriceArchive` in DhanHQ's column arrays. Checked in this
order: the token (401 `DH-901`), the account's Data API add-on (403 `DH-902` for a client
id in `SimulatorConfig.no_data_api`), the limit shared by both paths (429 `DH-904` past
`data_requests_per_second` in any second, per client id), the body (400 `DH-905`).
Routed here by `rest.RestServer`; the counts are read by tests and benchmarks.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

from dhan.simulator.answers import auth_error, error_body, input_error, rate_limit_error
from dhan.simulator.archive import PriceArchive
from dhan.simulator.bars import columns
from dhan.simulator.chartrequests import ChartInputError, ChartRequest, parse_chart_request
from dhan.simulator.config import SimulatorConfig

HISTORICAL_PATH = "/v2/charts/historical"
INTRADAY_PATH = "/v2/charts/intraday"
CHART_PATHS = frozenset({HISTORICAL_PATH, INTRADAY_PATH})
NOT_SUBSCRIBED_MESSAGE = "Client has not subscribed to Data APIs"
RATE_WINDOW_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class DataCallCounts:
    """One client id's Data API calls: `served` passed the limit (answered 200, or 400
    for a bad body), `refused` got 429 `DH-904`, `not_subscribed` got 403 `DH-902`."""

    served: int = 0
    refused: int = 0
    not_subscribed: int = 0


class ChartServer:
    """The chart endpoints' logic and counts; `request` is called on the REST server's
    threads (thread-safe)."""

    def __init__(self, config: SimulatorConfig, archive: PriceArchive) -> None:
        self.config = config
        self.archive = archive
        self._lock = threading.Lock()
        self._times: dict[str, collections.deque[float]] = {}  # served calls, last second
        self._counts: dict[str, collections.Counter[str]] = {}

    def request(self, route: str, *, headers: Mapping[str, str], body: bytes) -> tuple[int, dict]:
        """One `POST` to a chart path: (status, DhanHQ's JSON body)."""
        client_id = headers.get("client-id", "")
        if self.config.auth_refusal(client_id, headers.get("access-token", "")) is not None:
            return HTTPStatus.UNAUTHORIZED, auth_error()
        if client_id in self.config.no_data_api:
            self._count(client_id, "not_subscribed")
            return HTTPStatus.FORBIDDEN, error_body(
                "DH-902", "Invalid_Authentication", NOT_SUBSCRIBED_MESSAGE
            )
        if not self._admit(client_id):
            return HTTPStatus.TOO_MANY_REQUESTS, rate_limit_error()
        try:
            request = parse_chart_request(body, intraday=route == INTRADAY_PATH)
        except ChartInputError as exc:
            return HTTPStatus.BAD_REQUEST, input_error(str(exc))
        return HTTPStatus.OK, self.answer(request)

    def answer(self, request: ChartRequest) -> dict:
        """The column arrays for a parsed request (tests may call this directly)."""
        if request.interval_minutes is None:
            bars = self.archive.daily(request.key, start=request.start_day, end=request.end_day)
        else:
            bars = self.archive.intraday(
                request.key,
                start=request.start,
                end=request.end,
                interval_minutes=request.interval_minutes,
            )
        return columns(bars, oi=request.oi)

    def _admit(self, client_id: str) -> bool:
        """At most `data_requests_per_second` served calls in any second, per client id
        (the historical and intraday paths share it, as DhanHQ's Data API limit does)."""
        with self._lock:
            now = time.monotonic()
            times = self._times.setdefault(client_id, collections.deque())
            while times and now - times[0] >= RATE_WINDOW_SECONDS:
                times.popleft()
            counts = self._counts.setdefault(client_id, collections.Counter())
            if len(times) >= self.config.data_requests_per_second:
                counts["refused"] += 1
                return False
            times.append(now)
            counts["served"] += 1
            return True

    def _count(self, client_id: str, outcome: str) -> None:
        with self._lock:
            self._counts.setdefault(client_id, collections.Counter())[outcome] += 1

    def counts(self) -> dict[str, DataCallCounts]:
        """Every client id's Data API calls so far."""
        with self._lock:
            return {
                client_id: DataCallCounts(c["served"], c["refused"], c["not_subscribed"])
                for client_id, c in self._counts.items()
            }

    def counts_json(self) -> dict:
        """`counts()` as the simulator's `GET /simulator/data-calls` answers it."""
        return {
            "clients": {
                client_id: {
                    "served": c.served,
                    "refused": c.refused,
                    "not_subscribed": c.not_subscribed,
                }
                for client_id, c in self.counts().items()
            }
        }
