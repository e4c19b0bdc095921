"""JSON API: current prices (one cache round trip, REST fallback), quotes and depth from
the cache, and the stream's health."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from prices.api import MAX_KEYS_PER_REQUEST, KeyListError, parse_key_list
from prices.cache import QUOTE_KEY_PREFIX, price_store
from prices.depthwatch import read_books
from prices.health import StreamRows, market_health
from prices.rest import fetch_ltp
from prices.sink import PriceSink


def _error(message: str, *, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _keys(raw: str | None) -> list[str] | JsonResponse:
    """`keys=SEG:ID,...` validated (the 400 rules every endpoint shares), or the 400."""
    if raw is None or not raw.strip():
        return _error("missing 'keys': a comma-separated list of SEGMENT:SECURITY_ID")
    items = raw.split(",")
    if len(items) > MAX_KEYS_PER_REQUEST:
        return _error(f"too many keys: {len(items)} > {MAX_KEYS_PER_REQUEST}")
    try:
        return parse_key_list(items)
    except KeyListError as exc:
        return _error(str(exc))


@require_GET
def current_prices(request: HttpRequest) -> JsonResponse:
    """`?keys=SEG:ID,...`: cached prices; the rest from DhanHQ's REST LTP when allowed."""
    keys = _keys(request.GET.get("keys"))
    if isinstance(keys, JsonResponse):
        return keys
    store = price_store()
    try:
        prices = store.read(keys)
    except redis.RedisError:
        return _error("price cache unavailable", status=503)
    cached_count = len(prices)
    fetched = fetch_ltp([k for k in keys if k not in prices])
    if fetched:
        sink = PriceSink(store=store)  # the one writer of prices: cache them for the next poll
        sink.put_many(fetched.items())
        try:
            sink.flush()
        except redis.RedisError:
            pass  # the response still has them; the next poll fetches again
        prices.update(fetched)
    return JsonResponse(
        {
            "prices": prices,
            "timestamp": datetime.now(UTC).isoformat(),
            "count": len(prices),
            "cached_count": cached_count,
            "api_fetched_count": len(fetched),
            "missing": [k for k in keys if k not in prices],
        }
    )


@require_GET
def quotes(request: HttpRequest) -> JsonResponse:
    """`?keys=SEG:ID,...`: the cached QUOTE of each key (quote and full mode streams)."""
    keys = _keys(request.GET.get("keys"))
    if isinstance(keys, JsonResponse):
        return keys
    try:
        found = price_store().read_records(QUOTE_KEY_PREFIX, keys)
    except redis.RedisError:
        return _error("price cache unavailable", status=503)
    return JsonResponse(
        {
            "quotes": found,
            "timestamp": datetime.now(UTC).isoformat(),
            "missing": [k for k in keys if k not in found],
        }
    )


@require_GET
def depth(request: HttpRequest) -> JsonResponse:
    """`?key=SEG:ID`: the instrument's cached BOOK (20 levels while the depth socket
    serves it, else full mode's 5), or 404 when none is known."""
    keys = _keys(request.GET.get("key"))
    if isinstance(keys, JsonResponse):
        return keys
    if len(keys) != 1:
        return _error("'key' takes one SEGMENT:SECURITY_ID")
    (key,) = keys
    try:
        book = read_books(keys).get(key)
    except redis.RedisError:
        return _error("price cache unavailable", status=503)
    if book is None:
        return _error(f"no depth known for {key}: is it streamed in full mode?", status=404)
    return JsonResponse({**book, "key": key})


@require_GET
def market_stream_health(request: HttpRequest, *, rows: StreamRows) -> JsonResponse:
    """The stream's health; `rows` (the streams as the layer that runs them reports them)
    comes from the project's URLconf. Always JSON, Redis down included."""
    return JsonResponse(market_health(rows=rows).as_json())


@require_GET
def ws_subscriptions(request: HttpRequest) -> JsonResponse:
    """This process's WebSocket clients and their keys: for operators (staff) and, with
    DEBUG, for tests. Another web process answers for its own clients only."""
    if not (settings.DEBUG or (request.user.is_authenticated and request.user.is_staff)):
        raise Http404
    live = getattr(request, "scope", {}).get("live")  # put there by LivePricesMiddleware
    consumers = live.fanout.consumers() if live is not None else []
    sets = sorted(sorted(c.keys) for c in consumers)
    depth = sorted(sorted(keys) for c in consumers if (keys := c.subscriptions["depth"].keys))
    watched = sorted(live.depth_watchers.keys) if live is not None else []
    return JsonResponse(
        {"connections": len(sets), "key_sets": sets, "depth_key_sets": depth, "depth": watched}
    )
