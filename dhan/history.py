"""DhanHQ's Data API (price history) through the official SDK: `POST /v2/charts/historical`
(daily bars; `toDate` not included) and `POST /v2/charts/intraday` (1-minute bars, at most
90 days a call). Every call waits for one rate gate that the caller shares with the whole
deployment (5 requests a second per client id, with a margin); a 429 or `DH-904` closes the
gate and the call is retried; `DH-905` for a range we checked means a range without bars;
an account DhanHQ refuses is a plain `DataApiRefused` that names no token. Answers become
bars on the instrument's tick grid (`dhan.chartanswers`). Called by `history.backfill`
and `history.afterclose`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import requests
from dhanhq import DhanContext, dhanhq

from dhan.bars import Bar
from dhan.chartanswers import (
    INSTRUMENT_TYPES,
    ChartInstrument,
    DataApiBusy,
    DataApiError,
    DataApiRefused,
    RateLimited,
    candles,
    check,
    judge,
)
from dhan.rest import RateGate, retry_after_seconds

__all__ = [
    "INSTRUMENT_TYPES",
    "CallCounts",
    "ChartInstrument",
    "DataApiBusy",
    "DataApiError",
    "DataApiRefused",
    "HistoryClient",
]

logger = logging.getLogger(__name__)

# DhanHQ allows 5 Data API requests a second per client id. Spaced 0.22 s apart, 6 of our
# calls span 1.1 s: no 1-second window at DhanHQ's end holds more than 5 unless one call
# arrives 100 ms later than the next five (at 0.21 s, 50 ms: a loaded host met a 429 in
# 150 calls). 4.5 calls a second: 2,428 instruments' daily history in 9 minutes.
DATA_API_REQUESTS_PER_SECOND = 5
DATA_API_SPACING_SECONDS = 0.22
INTRADAY_MAX_DAYS = 90  # per intraday call
HISTORY_TIMEOUT_SECONDS = 30.0  # a year of daily bars, or 90 days of minutes, per answer
GATE_POLL_SECONDS = 0.01  # fine enough not to waste the 0.22 s slots
GATE_WAIT_SECONDS = 120.0  # longer than any back-off: then the gate is stuck, not busy
RATE_LIMIT_RETRIES = 6  # 429s in a row before a call gives up
RATE_LIMIT_BACKOFF_SECONDS = 1.0  # doubled on each 429 in a row (or Retry-After if longer)
MAX_BACKOFF_SECONDS = 30.0
INTRADAY_ENDPOINT = "/charts/intraday"


@dataclass(slots=True)
class CallCounts:
    """A client's calls so far: HTTP requests sent (retries included) and those DhanHQ
    answered 429 / `DH-904` (a backfill at the limit should meet none)."""

    calls: int = 0
    rate_limited: int = 0


class HistoryClient:
    """DhanHQ's history for one client id. One per backfill (its `counts` are that run's);
    `close` releases the SDK's HTTP session."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        access_token: str,
        gate: RateGate,
        timeout_seconds: float = HISTORY_TIMEOUT_SECONDS,
        gate_wait_seconds: float = GATE_WAIT_SECONDS,
        rate_limit_retries: int = RATE_LIMIT_RETRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        context = DhanContext(client_id, access_token)
        self._http = context.get_dhan_http()
        self._http.base_url = base_url
        self._http.timeout = timeout_seconds
        # The SDK drops the HTTP status and headers: keep them (per thread) for the verdict.
        self._http.session.hooks["response"].append(self._on_response)
        self._sdk = dhanhq(context)
        self._gate = gate
        self._gate_wait = gate_wait_seconds
        self._retries = rate_limit_retries
        self._clock = clock
        self._seen = threading.local()
        self._lock = threading.Lock()
        self.counts = CallCounts()

    def __repr__(self) -> str:  # never show the token
        return f"HistoryClient(base_url={self._http.base_url!r})"

    def close(self) -> None:
        self._http.session.close()

    def _on_response(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self._seen.status = response.status_code
        self._seen.retry_after = retry_after_seconds(response) if response.status_code == 429 else 0

    def daily(self, instrument: ChartInstrument, *, first: date, last: date) -> list[Bar]:
        """Daily bars of the days `first` to `last` (both included: DhanHQ's `toDate` is
        not, so it is sent as the day after `last`), oldest first."""
        check(instrument, first, last, max_days=None)
        key = instrument.key
        answer = self._request(
            lambda: self._sdk.historical_daily_data(
                str(key.security_id),
                key.segment_name,
                instrument.instrument_type,
                first.isoformat(),
                (last + timedelta(days=1)).isoformat(),
                expiry_code=0,
                oi=instrument.derivative,
            )
        )
        return candles(answer, instrument, daily=True, first=first, last=last)

    def minutes(self, instrument: ChartInstrument, *, first: date, last: date) -> list[Bar]:
        """1-minute bars of the days `first` to `last` (both included, at most
        INTRADAY_MAX_DAYS), oldest first."""
        check(instrument, first, last, max_days=INTRADAY_MAX_DAYS)
        key, end = instrument.key, (last + timedelta(days=1)).isoformat()
        if instrument.derivative:  # the SDK sends no expiryCode: F&O would answer no data
            body = {
                "securityId": str(key.security_id),
                "exchangeSegment": key.segment_name,
                "instrument": instrument.instrument_type,
                "interval": 1,
                "oi": True,
                "expiryCode": 0,
                "fromDate": first.isoformat(),
                "toDate": end,
            }
            answer = self._request(lambda: self._http.post(INTRADAY_ENDPOINT, body))
        else:
            answer = self._request(
                lambda: self._sdk.intraday_minute_data(
                    str(key.security_id),
                    key.segment_name,
                    instrument.instrument_type,
                    first.isoformat(),
                    end,
                    interval=1,
                    oi=False,
                )
            )
        return candles(answer, instrument, daily=False, first=first, last=last)

    def _request(self, send: Callable[[], dict]) -> dict | None:
        """The `data` of one answer (None: no bars), through the gate; a 429 holds the
        gate shut for everyone (Retry-After, or a back-off doubling each time) and retries."""
        for attempt in range(self._retries + 1):
            self._acquire()
            self._seen.status, self._seen.retry_after = None, 0
            answer = send()
            with self._lock:
                self.counts.calls += 1
            try:
                return judge(answer, status=self._seen.status, secret=self._http.access_token)
            except RateLimited:
                with self._lock:
                    self.counts.rate_limited += 1
                pause = max(self._seen.retry_after, RATE_LIMIT_BACKOFF_SECONDS * 2**attempt)
                pause = min(pause, MAX_BACKOFF_SECONDS)
                logger.warning("DhanHQ's Data API answered 429: no call for %.1f s", pause)
                self._gate.hold_off(pause)
        raise DataApiBusy("DhanHQ's Data API kept answering 429 (DH-904): try again later")

    def _acquire(self) -> None:
        deadline = self._clock() + self._gate_wait
        while not self._gate.try_acquire():
            if self._clock() >= deadline:
                raise DataApiBusy("the Data API rate gate stayed shut (is the cache reachable?)")
            time.sleep(GATE_POLL_SECONDS)
