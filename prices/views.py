"""JSON API: current prices (one cache round trip) and the market stream's health."""
from __future__ import annotations

from datetime import UTC, datetime

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from prices.api import MAX_KEYS_PER_REQUEST, KeyListError, parse_key_list
from prices.cache import price_store


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


@require_GET
def current_prices(request: HttpRequest) -> JsonResponse:
    raw = request.GET.get("keys")
    if raw is None or not raw.strip():
        return JsonResponse({"error": "missing 'keys': a comma-separated list of SEG:ID"},
                            status=400)  # fmt: skip
    items = raw.split(",")
    if len(items) > MAX_KEYS_PER_REQUEST:
        return JsonResponse({"error": f"too many keys: {len(items)} > {MAX_KEYS_PER_REQUEST}"},
                            status=400)  # fmt: skip
    try:
        keys = parse_key_list(items)
    except KeyListError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    prices = price_store().read(keys)
    missing = [k for k in keys if k not in prices]
    return JsonResponse({
        "prices": prices, "timestamp": _now_iso(), "count": len(prices),
        "cached_count": len(prices), "api_fetched_count": 0, "missing": missing,
    })  # fmt: skip
