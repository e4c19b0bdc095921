"""Template context for every page (settings' TEMPLATES context processors): the index
strip's last known values."""

from __future__ import annotations

import logging

import redis
from django.http import HttpRequest

from prices.cache import price_store
from prices.quotes import INDEX_STRIP
from prices.redisconn import fail_fast

logger = logging.getLogger(__name__)


def index_strip(request: HttpRequest) -> dict:
    """NIFTY 50, BANKNIFTY and SENSEX as the cache knows them (the page's script keeps
    them live); never lets an unreachable or hung cache break or hold up a page."""
    keys = [key for key, _ in INDEX_STRIP]
    try:
        with fail_fast():
            quotes = price_store().read_quotes(keys)
    except redis.RedisError as exc:
        logger.warning("index strip: price cache unreachable (%s)", exc)
        quotes = None
    strip = []
    for key, label in INDEX_STRIP:
        price = quotes and (quotes.live.get(key) or quotes.last.get(key))
        prev = quotes and quotes.prev_close.get(key)
        change_pct = (price - prev) / prev * 100 if price and prev else None
        strip.append(
            {
                "key": key,
                "label": label,
                "price": price,
                "prev_close": prev,
                "change_pct": change_pct,
            }
        )
    return {"index_strip": strip}
