"""What a screener page shows: the latest run's rows, sorted and paginated, with the prices
the cache has for the visible rows. A bounded number of queries whatever the row count, and
at most one Redis timeout (the reads fail fast once Redis is known not to answer)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from django.core.paginator import Page, Paginator

from prices.cache import QUOTE_KEY_PREFIX, Quotes, price_store
from prices.redisconn import fail_fast
from screeners.models import ScreenerResult, ScreenerRun

logger = logging.getLogger(__name__)

SORTS = {
    "rank": "rank",
    "-rank": "-rank",
    "score": "score",
    "-score": "-score",
    "symbol": "instrument__trading_symbol",
    "-symbol": "-instrument__trading_symbol",
    "change": "change_20d_pct",
    "-change": "-change_20d_pct",
    "rsi": "rsi_14",
    "-rsi": "-rsi_14",
    "volume": "volume_ratio",
    "-volume": "-volume_ratio",
}
DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 500


@dataclass(frozen=True, slots=True)
class Row:
    result: ScreenerResult
    key: str
    price: float | None
    price_is_live: bool
    prev_close: float | None
    quote: dict  # the cached QUOTE (day high, low, volume, ...); {} in ticker mode

    @property
    def change(self) -> float | None:
        if self.price is None or not self.prev_close:
            return None
        return round(self.price - self.prev_close, 2)

    @property
    def change_pct(self) -> float | None:
        if self.change is None:
            return None
        return round(self.change / self.prev_close * 100, 2)


@dataclass(frozen=True, slots=True)
class ScreenerPage:
    run: ScreenerRun | None
    page: Page | None
    rows: list[Row]
    sort: str
    per_page: int
    prices_available: bool

    @property
    def keys(self) -> list[str]:
        return [row.key for row in self.rows]


def _int(value: str | None, *, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(value or default), low), high)
    except ValueError:
        return default


def screener_page(
    *, screener_type: str, sort: str | None, page: str | None, per_page: str | None
) -> ScreenerPage:
    sort = sort if sort in SORTS else "rank"
    size = _int(per_page, default=DEFAULT_PER_PAGE, low=1, high=MAX_PER_PAGE)
    run = ScreenerRun.objects.filter(screener_type=screener_type).first()
    if run is None:
        return ScreenerPage(None, None, [], sort, size, True)
    results = (
        ScreenerResult.objects.filter(run=run)
        .select_related("instrument")
        .order_by(SORTS[sort], "rank")
    )
    current = Paginator(results, size).get_page(page)
    items = list(current.object_list)
    keys = [r.instrument.key for r in items]
    try:
        with fail_fast():
            store = price_store()
            quotes = store.read_quotes(keys)
            records = store.read_records(QUOTE_KEY_PREFIX, keys)  # quote and full mode streams
        available = True
    except redis.RedisError as exc:  # the page renders; the cells say so; the JS recovers
        logger.warning("screener page without prices: %s", exc)
        quotes, records, available = Quotes({}, {}, {}), {}, False
    rows = [
        Row(
            r,
            key,
            quotes.live.get(key, quotes.last.get(key)),
            key in quotes.live,
            quotes.prev_close.get(key),
            records.get(key) or {},
        )
        for r, key in zip(items, keys, strict=True)
    ]
    return ScreenerPage(run, current, rows, sort, size, available)
