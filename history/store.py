"""The bar store: closed bars in the Django database (PostgreSQL in a real deployment,
SQLite embedded). `1m` and `1d` are stored; `5m`-`1h` are resampled from `1m` and `1w`,
`1mo` from `1d` as they are read. Writers: the feed worker (minutes as they seal),
backfills and the after-close job, all through `upsert`, idempotent on (key, timeframe,
start). Readers: the bars API, the candle snapshots, screens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connections
from django.db.models import FloatField, Max
from django.db.models.functions import Cast

from history.models import Bar as BarRow
from history.timeframes import (
    BASE_BARS_PER_BAR,
    DAY,
    MINUTE,
    TIMEFRAMES,
    Bar,
    bucket_start,
    day_start,
    merge,
)

logger = logging.getLogger(__name__)

MAX_BARS = 5000  # per read, the API's limit
UPSERT_BATCH = 1000
FIELDS = ("start", "open", "high", "low", "close", "volume", "oi")
FLOATS = {f"{name}_f": Cast(name, FloatField()) for name in ("open", "high", "low", "close")}
FLOAT_FIELDS = ("start", "open_f", "high_f", "low_f", "close_f", "volume", "oi")


def upsert(key: str, timeframe: str, bars: Iterable[Bar], *, using: str = "default") -> int:
    """Write closed `bars` of one instrument (`1m` or `1d`); a bar already stored is
    overwritten with the new values. Returns how many were written."""
    rows = [
        BarRow(
            key=key,
            timeframe=timeframe,
            start=b.t,
            open=Decimal(repr(b.o)),
            high=Decimal(repr(b.h)),
            low=Decimal(repr(b.l)),
            close=Decimal(repr(b.c)),
            volume=b.v,
            oi=b.oi,
        )
        for b in bars
    ]
    BarRow.objects.using(using).bulk_create(
        rows,
        batch_size=UPSERT_BATCH,
        update_conflicts=True,
        unique_fields=["key", "timeframe", "start"],
        update_fields=["open", "high", "low", "close", "volume", "oi"],
    )
    return len(rows)


def upsert_many(timeframe: str, bars: Iterable[tuple[str, Bar]], *, using: str = "default") -> int:
    """Closed bars of many instruments (the feed worker's minute, the day-end bars)."""
    by_key: dict[str, list[Bar]] = {}
    for key, bar in bars:
        by_key.setdefault(key, []).append(bar)
    return sum(upsert(key, timeframe, rows, using=using) for key, rows in by_key.items())


def _rows(
    key: str, base: str, *, start: int | None, end: int | None, limit: int | None, using: str
) -> list[Bar]:
    """Stored `base` bars of `key` with start in [start, end), oldest first; the latest
    `limit` of them when given."""
    query = BarRow.objects.using(using).filter(key=key, timeframe=base)
    if start is not None:
        query = query.filter(start__gte=start)
    if end is not None:
        query = query.filter(start__lt=end)
    # Prices cast to double precision by the database (exact: the nearest double of a
    # 4-decimal price prints as that price), and the rows read by the driver without
    # Django's per-value converters: a 5,000-bar read is the API's hot path.
    query = query.annotate(**FLOATS)
    if limit is not None:
        query = query.order_by("-start").values_list(*FLOAT_FIELDS)[:limit]
    else:
        query = query.order_by("start").values_list(*FLOAT_FIELDS)
    sql, params = query.query.sql_with_params()
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        rows = [Bar._make(row) for row in cursor.fetchall()]
    if limit is not None:
        rows.reverse()
    return rows


def read(
    key: str,
    tf: str,
    *,
    first: date | None = None,
    last: date | None = None,
    limit: int = MAX_BARS,
    using: str = "default",
) -> list[Bar]:
    """Closed `tf` bars of `key` whose session day is in [first, last] (either open),
    oldest first, the latest `limit` of them."""
    base = TIMEFRAMES[tf][0]
    start = day_start(first) if first else None
    end = day_start(last + timedelta(days=1)) if last else None
    per_bar = BASE_BARS_PER_BAR[tf]
    rows = _rows(key, base, start=start, end=end, limit=limit * per_bar, using=using)
    if tf in (MINUTE, DAY):
        return rows[-limit:]
    bars = list(merge(rows, tf))
    if len(rows) == limit * per_bar and bars:
        bars = bars[1:]  # the oldest may be cut by the row limit: partial
    return bars[-limit:]


def last_start(keys: Sequence[str], timeframe: str, *, using: str = "default") -> dict[str, int]:
    """The start of each key's latest stored bar of `timeframe` (keys with none absent)."""
    rows = (
        BarRow.objects.using(using)
        .filter(key__in=keys, timeframe=timeframe)
        .values("key")
        .annotate(last=Max("start"))
    )
    return {row["key"]: row["last"] for row in rows}


def since(keys: Sequence[str], timeframe: str, start: int, *, using: str = "default") -> dict:
    """Every stored bar of `keys` from `start` on, by key, oldest first (a live candle
    set's seed: today's minutes, this month's days)."""
    out: dict[str, list[Bar]] = {}
    rows = (
        BarRow.objects.using(using)
        .filter(key__in=keys, timeframe=timeframe, start__gte=start)
        .order_by("key", "start")
        .values_list("key", *FIELDS)
    )
    for key, t, o, h, lo, c, v, oi in rows:
        out.setdefault(key, []).append(Bar(t, float(o), float(h), float(lo), float(c), v, oi))
    return out


def purge_old_minutes(*, now: float | None = None, using: str = "default") -> int:
    """Drop closed `1m` bars older than HISTORY_INTRADAY_RETENTION_DAYS; daily bars stay
    for ever. Called by the after-close job."""
    days = settings.HISTORY_INTRADAY_RETENTION_DAYS
    cutoff = bucket_start(int(now or time.time()), DAY) - days * 86_400
    deleted, _ = BarRow.objects.using(using).filter(timeframe=MINUTE, start__lt=cutoff).delete()
    if deleted:
        logger.info("dropped %d one-minute bars older than %d days", deleted, days)
    return deleted
