"""DhanHQ's REST API through the official SDK, every call through one rate gate.

DhanHQ allows one market-quote request per second per client id. Our gate spaces calls by
that plus a safety margin (network jitter brings two calls closer at DhanHQ's end than
they left ours), and a 429 closes it for the `Retry-After` DhanHQ asked for. The caller
passes a gate that every process of the deployment shares.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import requests
from dhanhq import DhanContext, dhanhq

from dhan.limits import REST_MAX_INSTRUMENTS, REST_MIN_INTERVAL_SECONDS
from dhan.segments import SEGMENT_CODES, InstrumentKey

logger = logging.getLogger(__name__)

REST_SAFETY_MARGIN_SECONDS = 0.15
REST_SPACING_SECONDS = REST_MIN_INTERVAL_SECONDS + REST_SAFETY_MARGIN_SECONDS
REST_TIMEOUT_SECONDS = 3  # the SDK's default is 60 s: too long for a page
DEFAULT_RETRY_AFTER_SECONDS = 2.0  # a 429 without a usable Retry-After
MAX_RETRY_AFTER_SECONDS = 300.0


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
    threads: the SDK's session is shared, the gate is the only mutable state."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        access_token: str,
        gate: RateGate,
        timeout_seconds: float = REST_TIMEOUT_SECONDS,
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

    def __repr__(self) -> str:  # never show the token
        return f"DhanRest(base_url={self._sdk.dhan_http.base_url!r})"

    def _on_response(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        if response.status_code == 429:
            seconds = retry_after_seconds(response)
            logger.warning("DhanHQ REST answered 429: no REST call for %.1f s", seconds)
            self._gate.hold_off(seconds)

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
