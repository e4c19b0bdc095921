"""DhanHQ's REST LTP (`POST /v2/marketfeed/ltp`) through the official SDK, for keys the
cache does not have. DhanHQ allows 1000 instruments per request and 1 request per second
per user: the limiter is shared by every request of every process (a Redis key with a
1 s expiry; in embedded mode, the process)."""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache

import redis
from dhanhq import DhanContext, dhanhq
from django.conf import settings

from prices.cache import redis_client
from prices.keys import SEGMENT_CODES, InstrumentKey

logger = logging.getLogger(__name__)

REST_MAX_INSTRUMENTS = 1000
REST_MIN_INTERVAL_SECONDS = 1.0
REST_TIMEOUT_SECONDS = 3
RATE_KEY = "market_stream:rest_ltp_slot"


class RestRateLimiter:
    """One REST LTP call per second for the whole deployment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0.0

    def try_acquire(self) -> bool:
        if settings.REDIS_URL:
            interval_ms = int(REST_MIN_INTERVAL_SECONDS * 1000)
            try:
                return bool(
                    redis_client(settings.REDIS_URL).set(RATE_KEY, 1, nx=True, px=interval_ms)
                )
            except redis.RedisError:
                return False
        with self._lock:
            now = time.monotonic()
            if now - self._last < REST_MIN_INTERVAL_SECONDS:
                return False
            self._last = now
            return True


rate_limiter = RestRateLimiter()


@lru_cache(maxsize=2)
def _client(client_id: str, access_token: str, api_url: str) -> dhanhq:
    context = DhanContext(client_id, access_token)
    http = context.get_dhan_http()
    http.base_url = api_url
    http.timeout = REST_TIMEOUT_SECONDS  # the SDK's default is 60 s: too long for a page
    return dhanhq(context)


def rest_enabled() -> bool:
    return bool(settings.DHANHQ_CLIENT_ID and settings.DHANHQ_ACCESS_TOKEN)


def fetch_ltp(keys: list[str]) -> dict[str, float]:
    """Prices for up to 1000 keys in one call, or {} when the rate limit or DhanHQ says no."""
    if not keys or not rest_enabled():
        return {}
    keys = keys[:REST_MAX_INSTRUMENTS]
    if not rate_limiter.try_acquire():
        return {}
    body: dict[str, list[int]] = {}
    for key in keys:
        parsed = InstrumentKey.parse(key)
        body.setdefault(parsed.segment_name, []).append(parsed.security_id)
    client = _client(
        settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN, settings.DHANHQ_API_URL
    )
    response = client.ticker_data(body)
    if response.get("status") != "success":
        logger.warning("DhanHQ REST LTP failed: %s", response.get("remarks"))
        return {}
    data = (response.get("data") or {}).get("data") or {}
    prices = {}
    for segment, by_id in data.items():
        if segment not in SEGMENT_CODES or not isinstance(by_id, dict):
            continue
        for sid, entry in by_id.items():
            price = entry.get("last_price") if isinstance(entry, dict) else None
            if isinstance(price, (int, float)) and price > 0:
                prices[f"{segment}:{sid}"] = float(price)
    return {k: prices[k] for k in keys if k in prices}
