"""What a screen's results page shows: its latest run's rows, sorted (by rank, symbol or
any of the screen's own columns) and paginated, with the prices the cache has for the
visible rows; the run's entrants marked. A bounded number of queries whatever the row count, and
at most one Redis timeout (the reads fail fast once Redis is known not to answer)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from django.core.paginator import Page, Paginator
from django.db.models import F, FloatField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from prices.cache import QUOTE_KEY_PREFIX, Quotes, price_store
from prices.redisconn import fail_fast
from screeners.models import Screen, ScreenRow, ScreenRun, latest_run

logger = logging.getLogger(__name__)

FIXED_SORTS = {"rank": "rank", "symbol": "instrument__trading_symbol", "score": "rank_value"}
DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 500


@dataclass(frozen=True, slots=True)
class Row:
    result: ScreenRow
    key: str
    entered: bool
    cells: tuple  # the screen's own columns' values, in its order (None: undefined)
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
    screen: Screen
    run: ScreenRun | None
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


def _ordering(sort: str) -> list:
    """ORDER BY for `sort` (`rank`, `symbol`, `score` or a column, `-` for descending;
    `sorts` has checked it);
    undefined values last either way."""
    name = sort.removeprefix("-")
    descending = sort.startswith("-")
    # A column's value as a number (a JSON null as SQL NULL, which `nulls_last` places).
    field = (
        F(FIXED_SORTS[name]) if name in FIXED_SORTS else Cast(KT(f"columns__{name}"), FloatField())
    )
    ordered = field.desc(nulls_last=True) if descending else field.asc(nulls_last=True)
    return [ordered, "rank"]


def sorts(screen: Screen) -> set[str]:
    names = [*FIXED_SORTS, *screen.columns]
    return {*names, *(f"-{n}" for n in names)}


def screener_page(
    *, screen: Screen, sort: str | None, page: str | None, per_page: str | None
) -> ScreenerPage:
    sort = sort if sort in sorts(screen) else "rank"
    size = _int(per_page, default=DEFAULT_PER_PAGE, low=1, high=MAX_PER_PAGE)
    run = latest_run(screen)
    if run is None:
        return ScreenerPage(screen, None, None, [], sort, size, True)
    results = (
        ScreenRow.objects.filter(run=run).select_related("instrument").order_by(*_ordering(sort))
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
    entered = set(run.entered)
    rows = [
        Row(
            r,
            key,
            key in entered,
            tuple(r.columns.get(name) for name in screen.columns),
            quotes.live.get(key, quotes.last.get(key)),
            key in quotes.live,
            quotes.prev_close.get(key),
            records.get(key) or {},
        )
        for r, key in zip(items, keys, strict=True)
    ]
    return ScreenerPage(screen, run, current, rows, sort, size, available)
