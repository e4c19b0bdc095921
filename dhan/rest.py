"""DhanHQ's REST API through the official SDK, every call through one rate gate.

DhanHQ allows one market-quote request per second per client id. Our gate spaces calls by
that plus a safety margin (network jitter brings two calls closer at DhanHQ's end than
they left ours), and a 429 closes it for the `Retry-After` DhanHQ asked for. The caller
passes a gate that every process of the deployment shares. Callers: `prices.rest` (market
quotes) and `accounts.linking` (a token's check, `GET /v2/profile`, before it is stored).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import requests
from dhanhq import DhanContext, dhanhq

from dhan.limits import REST_MAX_INSTRUMENTS, REST_MIN_INTERVAL_SECONDS
from dhan.redact import redact
from dhan.segments import SEGMENT_CODES, InstrumentKey

logger = logging.getLogger(__name__)

REST_SAFETY_MARGIN_SECONDS = 0.15
REST_SPACING_SECONDS = REST_MIN_INTERVAL_SECONDS + REST_SAFETY_MARGIN_SECONDS
REST_TIMEOUT_SECONDS = 3  # the SDK's default is 60 s: too long for a page
DEFAULT_RETRY_AFTER_SECONDS = 2.0  # a 429 without a usable Retry-After
MAX_RETRY_AFTER_SECONDS = 300.0
# A token check (someone is waiting on a page) waits this long for the gate, polling.
GATE_WAIT_SECONDS = 3.0
GATE_POLL_SECONDS = 0.05
PROFILE_ENDPOINT = "/profile"  # GET /v2/profile: the token's account, its validity
# DhanHQ's error codes that judge the credentials themselves (annexure "Trading API Error"):
# DH-901 a wrong or expired token, DH-902 no access to the API, DH-903 the account's setup.
REFUSING_ERROR_CODES = frozenset({"DH-901", "DH-902", "DH-903"})
REFUSING_HTTP_STATUSES = frozenset({401, 403})
RATE_LIMIT_ERROR_CODE = "DH-904"


class TokenCheckError(Exception):
    """A token could not be shown good; the message names no token."""


class TokenRefused(TokenCheckError):
    """DhanHQ answered and said no (or the token is another client id's)."""


class DhanBusy(TokenCheckError):
    """The rate gate stayed shut, or DhanHQ answered 429: nothing was judged."""


class DhanUnreachable(TokenCheckError):
    """No answer in DhanHQ's shape (network, timeout, an unexpected body)."""


class RateGate(Protocol):
    """When a REST call may go. `try_acquire` takes the next slot or says no at once;
    `hold_off` closes the gate for everyone (after a 429)."""

    def try_acquire(self) -> bool: ...

    def hold_off(self, seconds: float) -> None: ...


def retry_after_seconds(response: requests.Response) -> float:
    """DhanHQ's `Retry-After` (seconds), bounded; the default when absent or an HTTP date."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return DEFAULT_RETRY_AFTER_SECONDS
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class DhanRest:
    """DhanHQ's REST API for one client id. Thread-safe enough for Django's request
    threads: the SDK's session is shared, the gate is the only shared mutable state (the
    last HTTP status is kept per thread)."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        access_token: str,
        gate: RateGate,
        timeout_seconds: float = REST_TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        context = DhanContext(client_id, access_token)
        http = context.get_dhan_http()
        http.base_url = base_url
        http.timeout = timeout_seconds
        # The SDK turns every answer into a dict and drops the status and headers: see the
        # raw response first, so a 429 closes the gate for as long as DhanHQ asked.
        http.session.hooks["response"].append(self._on_response)
        self._sdk = dhanhq(context)
        self._gate = gate
        self._client_id = client_id
        self._sleep, self._clock = sleep, clock
        self._seen = threading.local()  # this thread's last HTTP status (the SDK drops it)

    def __repr__(self) -> str:  # never show the token
        return f"DhanRest(base_url={self._sdk.dhan_http.base_url!r})"

    def _on_response(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self._seen.status = response.status_code
        if response.status_code == 429:
            seconds = retry_after_seconds(response)
            logger.warning("DhanHQ REST answered 429: no REST call for %.1f s", seconds)
            self._gate.hold_off(seconds)

    def close(self) -> None:
        """Release the SDK's HTTP session (a short-lived client, e.g. a token check)."""
        self._sdk.dhan_http.session.close()

    def check_token(self, *, wait_seconds: float = GATE_WAIT_SECONDS) -> dict:
        """Called before a broker token is stored: DhanHQ's profile of this client id and
        token (`GET /v2/profile`, one call through the gate, waiting up to `wait_seconds`
        for it). Returns the profile; raises TokenRefused, DhanBusy or DhanUnreachable."""
        if not self._acquire(wait_seconds):
            raise DhanBusy("DhanHQ's rate limit for this client id: try again in a moment")
        self._seen.status = None
        answer = self._sdk.dhan_http.get(PROFILE_ENDPOINT)
        return _judge_profile(
            answer,
            status=self._seen.status,
            client_id=self._client_id,
            secret=self._sdk.dhan_http.access_token,
        )

    def _acquire(self, wait_seconds: float) -> bool:
        deadline = self._clock() + wait_seconds
        while not self._gate.try_acquire():
            if self._clock() >= deadline:
                return False
            self._sleep(GATE_POLL_SECONDS)
        return True

    def ltp(self, keys: list[InstrumentKey]) -> dict[str, float]:
        """Last prices for up to REST_MAX_INSTRUMENTS keys in one call (`SEG:SID` ->
        price); {} when the gate or DhanHQ says no."""
        data = self._market_quote(self._sdk.ticker_data, keys[:REST_MAX_INSTRUMENTS])
        return _field(data, lambda entry: entry.get("last_price"))

    def previous_closes(self, keys: list[InstrumentKey]) -> dict[str, float]:
        """The previous day's close (`ohlc.close` of `/v2/marketfeed/ohlc`) for up to
        REST_MAX_INSTRUMENTS keys in one call; {} when the gate or DhanHQ says no."""
        data = self._market_quote(self._sdk.ohlc_data, keys[:REST_MAX_INSTRUMENTS])
        return _field(data, lambda entry: (entry.get("ohlc") or {}).get("close"))

    def quotes(self, keys: list[InstrumentKey]) -> dict:
        """The market quote (`/v2/marketfeed/quote`: the day's OHLC and volume) of up to
        REST_MAX_INSTRUMENTS keys in one call, by segment and security id; {} when the
        gate or DhanHQ says no. The after-close job's day bars."""
        return self._market_quote(self._sdk.quote_data, keys[:REST_MAX_INSTRUMENTS])

    def _market_quote(self, call: Callable[[dict], dict], keys: list[InstrumentKey]) -> dict:
        if not keys or not self._gate.try_acquire():
            return {}
        body: dict[str, list[int]] = {}
        for key in keys:
            body.setdefault(key.segment_name, []).append(key.security_id)
        response = call(body)
        if response.get("status") != "success":
            logger.warning("DhanHQ REST call failed: %s", response.get("remarks"))
            return {}
        return (response.get("data") or {}).get("data") or {}


def _judge_profile(answer: dict, *, status: int | None, client_id: str, secret: str) -> dict:
    """The SDK's answer to `GET /v2/profile` (and the HTTP status, None without an answer):
    the profile when it is `client_id`'s, else the matching TokenCheckError. The SDK puts
    DhanHQ's error body in `remarks` as a dict, an exception's text there as a string."""
    data, remarks = answer.get("data"), answer.get("remarks")
    if answer.get("status") == "success" and isinstance(data, dict):
        if str(data.get("dhanClientId", "")) != client_id:
            raise TokenRefused("the token belongs to another DhanHQ client id")
        return data
    fields = remarks if isinstance(remarks, dict) else {}
    code = str(fields.get("error_code") or "")
    detail = redact(str(fields.get("error_message") or remarks or ""), secrets=(secret,))[:200]
    if code == RATE_LIMIT_ERROR_CODE or status == 429:
        raise DhanBusy(f"DhanHQ's rate limit ({code or status}): try again in a moment")
    if code in REFUSING_ERROR_CODES or status in REFUSING_HTTP_STATUSES:
        raise TokenRefused(f"{code or status} {detail}".strip())
    if status is None:
        raise DhanUnreachable(f"no answer from DhanHQ: {detail}")
    raise DhanUnreachable(f"DhanHQ could not check the token: {code or status} {detail}".strip())


def _field(data: dict, pick: Callable[[dict], object]) -> dict[str, float]:
    """One positive number per `SEG:SID` from a market-quote answer; anything else dropped."""
    out: dict[str, float] = {}
    for segment, by_id in data.items():
        if segment not in SEGMENT_CODES or not isinstance(by_id, dict):
            continue
        for sid, entry in by_id.items():
            value = pick(entry) if isinstance(entry, dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                out[f"{segment}:{sid}"] = float(value)
    return out
