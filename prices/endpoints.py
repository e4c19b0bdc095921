"""The price API: current prices (one cache round trip, REST fallback), quotes and depth
from the cache. A django-ninja router (mounted, with the rest of the JSON API, by
marketstream/api.py): its signatures and `response` schemas are the OpenAPI description.
Keys are validated here, not by ninja, so that every endpoint refuses a bad key list with
the same 400 and message. A cache that is down or hung gets 503 within one Redis timeout
(the reads fail fast once Redis is known not to answer)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import redis
from django.http import HttpRequest, JsonResponse
from ninja import Query, Router

from prices.api import MAX_KEYS_PER_REQUEST, KeyListError, parse_key_list
from prices.cache import QUOTE_KEY_PREFIX, price_store
from prices.depthwatch import read_books
from prices.redisconn import fail_fast
from prices.rest import fetch_ltp
from prices.schemas import Book, CurrentPrices, Error, Quotes
from prices.sink import PriceSink

router = Router(tags=["prices"])
KEYS_HELP = f"comma-separated SEGMENT:SECURITY_ID keys, at most {MAX_KEYS_PER_REQUEST}"
CACHE_DOWN = "price cache unavailable"
# Optional for ninja, so that a missing list gets our 400; `keys_` because a parameter
# model with a field `keys` would shadow its mapping method.
KeysParam = Annotated[
    str | None,
    Query(None, alias="keys", description=KEYS_HELP, example="NSE_EQ:2885,IDX_I:13"),
]
KeyParam = Annotated[
    str | None, Query(None, description="one SEGMENT:SECURITY_ID", example="NSE_EQ:2885")
]


def error(message: str, *, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def parse_keys(raw: str | None) -> list[str] | JsonResponse:
    """`keys=SEG:ID,...` validated (the 400 rules every endpoint shares), or the 400."""
    if raw is None or not raw.strip():
        return error("missing 'keys': a comma-separated list of SEGMENT:SECURITY_ID")
    items = raw.split(",")
    if len(items) > MAX_KEYS_PER_REQUEST:
        return error(f"too many keys: {len(items)} > {MAX_KEYS_PER_REQUEST}")
    try:
        return parse_key_list(items)
    except KeyListError as exc:
        return error(str(exc))


@router.get(
    "/current_prices",
    response={200: CurrentPrices, 400: Error, 503: Error},
    url_name="current_prices",
    summary="Last traded prices",
)
def current_prices(request: HttpRequest, keys_: KeysParam = None) -> JsonResponse:
    """Cached prices in one round trip; the rest through DhanHQ's REST LTP when
    credentials allow (cached for the next poll), else listed in `missing`."""
    parsed = parse_keys(keys_)
    if isinstance(parsed, JsonResponse):
        return parsed
    store = price_store()
    with fail_fast():  # a hung cache costs this request one timeout at most
        try:
            prices = store.read(parsed)
        except redis.RedisError:
            # No REST fallback: DhanHQ's rate gate lives in the same Redis, and fails closed.
            return error(CACHE_DOWN, status=503)
        cached_count = len(prices)
        fetched = fetch_ltp([k for k in parsed if k not in prices])
        if fetched:
            sink = PriceSink(store=store)  # the one writer of prices
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
            "missing": [k for k in parsed if k not in prices],
        }
    )


@router.get(
    "/quotes",
    response={200: Quotes, 400: Error, 503: Error},
    url_name="quotes",
    summary="Quotes (day range, volume, change)",
)
def quotes(request: HttpRequest, keys_: KeysParam = None) -> JsonResponse:
    """The cached QUOTE of each key (streams in quote and full mode keep them)."""
    parsed = parse_keys(keys_)
    if isinstance(parsed, JsonResponse):
        return parsed
    try:
        with fail_fast():
            found = price_store().read_records(QUOTE_KEY_PREFIX, parsed)
    except redis.RedisError:
        return error(CACHE_DOWN, status=503)
    return JsonResponse(
        {
            "quotes": found,
            "timestamp": datetime.now(UTC).isoformat(),
            "missing": [k for k in parsed if k not in found],
        }
    )


@router.get(
    "/depth",
    response={200: Book, 400: Error, 404: Error, 503: Error},
    url_name="depth",
    summary="Market depth of one instrument",
)
def depth(request: HttpRequest, key: KeyParam = None) -> JsonResponse:
    """The cached BOOK (20 levels while the depth socket serves it, else full mode's 5);
    404 when none is known."""
    parsed = parse_keys(key)
    if isinstance(parsed, JsonResponse):
        return parsed
    if len(parsed) != 1:
        return error("'key' takes one SEGMENT:SECURITY_ID")
    (one,) = parsed
    try:
        with fail_fast():
            book = read_books(parsed).get(one)
    except redis.RedisError:
        return error(CACHE_DOWN, status=503)
    if book is None:
        return error(f"no depth known for {one}: is it streamed in full mode?", status=404)
    return JsonResponse({**book, "key": one})
