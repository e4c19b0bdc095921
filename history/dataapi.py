"""The deployment's DhanHQ Data API client: `dhan.history.HistoryClient` for the configured
credentials (DHANHQ_CLIENT_ID, DHANHQ_ACCESS_TOKEN, DHANHQ_API_URL), behind ONE gate for
every Data API call of the deployment: a key in Django's cache (Redis in the full stack, so
every process shares it), spaced DATA_API_SPACING_SECONDS apart, its own limit beside the
market quote's. Callers: the backfill command, task and admin action, the after-close job
and the demo.
"""

from __future__ import annotations

from django.conf import settings

from dhan.history import DATA_API_SPACING_SECONDS, HistoryClient
from prices.rest import CacheRateGate

DATA_GATE_KEY_PREFIX = "market_stream:data_gate:"


class DataApiNotConfigured(Exception):
    """No DhanHQ credentials in the settings: nothing can be fetched."""


def data_gate(client_id: str) -> CacheRateGate:
    """The Data API's gate for `client_id` (DhanHQ counts the limit per client id)."""
    return CacheRateGate(
        client_id, spacing_seconds=DATA_API_SPACING_SECONDS, prefix=DATA_GATE_KEY_PREFIX
    )


def data_api_client() -> HistoryClient:
    """A new client for the configured credentials, counting its own calls (one per run:
    the caller closes it). Raises DataApiNotConfigured without credentials."""
    client_id, token = settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN
    if not (client_id and token):
        raise DataApiNotConfigured(
            "no DhanHQ credentials: set DHANHQ_CLIENT_ID and DHANHQ_ACCESS_TOKEN"
        )
    return HistoryClient(
        base_url=settings.DHANHQ_API_URL,
        client_id=client_id,
        access_token=token,
        gate=data_gate(client_id),
    )
