"""DhanHQ's REST market quote for keys the cache does not have, through `dhan.rest` with
the deployment's one rate gate: a key in Django's cache (Redis in the full stack, so every
process of every kind shares it; the process's memory in embedded mode)."""

from __future__ import annotations

import hashlib
from functools import lru_cache

import redis
from django.conf import settings
from django.core.cache import cache
from django_redis.exceptions import ConnectionInterrupted

from dhan.rest import REST_SPACING_SECONDS, DhanRest
from dhan.segments import InstrumentKey

GATE_KEY_PREFIX = "market_stream:rest_gate:"


class CacheRateGate:
    """`dhan.rest.RateGate` on Django's cache: `add` takes the slot atomically (SET NX PX
    with django-redis). `prefix` names the limit (the market quote's by default; the Data
    API has its own, `history.dataapi`)."""

    def __init__(
        self,
        client_id: str,
        *,
        spacing_seconds: float = REST_SPACING_SECONDS,
        prefix: str = GATE_KEY_PREFIX,
    ) -> None:
        self._key = prefix + hashlib.sha256(client_id.encode()).hexdigest()[:16]
        self._spacing = spacing_seconds

    def try_acquire(self) -> bool:
        """False when the slot is taken, and when the cache is unreachable (no call beats
        a call that could break DhanHQ's limit)."""
        try:
            return bool(cache.add(self._key, 1, timeout=self._spacing))
        except (redis.RedisError, ConnectionInterrupted):
            return False

    def hold_off(self, seconds: float) -> None:
        try:
            cache.set(self._key, 1, timeout=max(seconds, self._spacing))
        except (redis.RedisError, ConnectionInterrupted):
            pass  # nobody gets the gate while the cache is down anyway


def rest_enabled() -> bool:
    return bool(settings.DHANHQ_CLIENT_ID and settings.DHANHQ_ACCESS_TOKEN)


@lru_cache(maxsize=4)
def _client(client_id: str, access_token: str, api_url: str) -> DhanRest:
    """One SDK session per credentials (a memo: nothing to reset)."""
    return DhanRest(
        base_url=api_url,
        client_id=client_id,
        access_token=access_token,
        gate=CacheRateGate(client_id),
    )


def rest_client() -> DhanRest | None:
    """The configured credentials' REST client, or None without credentials."""
    if not rest_enabled():
        return None
    return _client(settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN, settings.DHANHQ_API_URL)


def fetch_ltp(keys: list[str]) -> dict[str, float]:
    """Prices for up to 1000 keys in one call, or {} when the gate or DhanHQ says no."""
    client = rest_client()
    if client is None or not keys:
        return {}
    prices = client.ltp([InstrumentKey.parse(k) for k in keys])
    return {k: prices[k] for k in keys if k in prices}


def fetch_previous_closes(keys: list[str]) -> dict[str, float]:
    """Previous closes for up to 1000 keys in one REST OHLC call, or {} when the gate or
    DhanHQ says no (ticker mode: equities get no previous close from the feed)."""
    client = rest_client()
    if client is None or not keys:
        return {}
    closes = client.previous_closes([InstrumentKey.parse(k) for k in keys])
    return {k: closes[k] for k in keys if k in closes}
