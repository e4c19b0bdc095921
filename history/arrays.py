"""Closed bars of many instruments at once as numpy arrays: what a screen evaluates. One
array per field, shape (instruments, length), right-aligned (column -1 is each key's
latest bar) and NaN-padded at the front for shorter histories. Read by the screens' runner
(`screeners.runs`); `with_forming` lays the day's forming bar (the live candle) on top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import groupby

import numpy as np
from django.db import connections

from history import store
from history.models import Bar as BarRow
from history.timeframes import DAY, MINUTE, TIMEFRAMES, Bar

SECONDS_PER_DAY = 86_400
MINUTES_PER_SESSION = 375  # 09:15-15:30 IST
# Calendar days that hold N sessions, with weekends and holidays to spare.
CALENDAR_DAYS_PER_SESSION = 1.6
SPARE_DAYS = 10
KEYS_PER_QUERY = 500  # well under SQLite's bound on query parameters
PRICE_FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class BarArrays:
    keys: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    last_start: np.ndarray  # int64 (instruments,): the latest bar's start, 0 with none

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, f).nbytes for f in PRICE_FIELDS) + self.last_start.nbytes

    def as_of(self) -> int | None:
        """The latest bar's start over the whole universe (Unix s), None with no bars."""
        latest = int(self.last_start.max()) if len(self.keys) else 0
        return latest or None


def empty(keys: Sequence[str], length: int) -> BarArrays:
    shape = (len(keys), length)
    fields = {f: np.full(shape, np.nan) for f in PRICE_FIELDS}
    return BarArrays(tuple(keys), last_start=np.zeros(len(keys), dtype=np.int64), **fields)


def closed(
    keys: Sequence[str], tf: str, length: int, *, now: float, using: str = "default"
) -> BarArrays:
    """The latest `length` closed `tf` bars of every key. `1d` and `1m` are read in one
    query per KEYS_PER_QUERY keys; resampled timeframes key by key through the store."""
    out = empty(keys, length)
    row_of = {key: i for i, key in enumerate(keys)}
    base = TIMEFRAMES[tf][0]
    if tf in (DAY, MINUTE):
        for at in range(0, len(keys), KEYS_PER_QUERY):
            chunk = list(keys[at : at + KEYS_PER_QUERY])
            for key, bars in groupby(_read_chunk(chunk, base, length, now, using), lambda r: r[0]):
                _place(out, row_of[key], [Bar(*row[1:], None) for row in bars][-length:])
    else:
        for key in keys:
            _place(out, row_of[key], store.read(key, tf, limit=length, using=using))
    return out


def _read_chunk(keys: list[str], base: str, length: int, now: float, using: str) -> list[tuple]:
    """(key, start, o, h, l, c, v) rows of `keys` recent enough to hold `length` bars."""
    sessions = length if base == DAY else length / MINUTES_PER_SESSION + 1
    cutoff = int(now - (sessions * CALENDAR_DAYS_PER_SESSION + SPARE_DAYS) * SECONDS_PER_DAY)
    query = (
        BarRow.objects.using(using)
        .filter(key__in=keys, timeframe=base, start__gte=cutoff)
        .annotate(**store.FLOATS)
        .order_by("key", "start")
        .values_list("key", "start", "open_f", "high_f", "low_f", "close_f", "volume")
    )
    sql, params = query.query.sql_with_params()
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _place(out: BarArrays, row: int, bars: list[Bar]) -> None:
    if not bars:
        return
    values = np.array([(b.o, b.h, b.l, b.c, b.v) for b in bars], dtype=np.float64)
    width = len(bars)
    for column, field in enumerate(PRICE_FIELDS):
        getattr(out, field)[row, -width:] = values[:, column]
    out.last_start[row] = bars[-1].t


def with_forming(arrays: BarArrays, forming: Mapping[str, Bar]) -> BarArrays:
    """`arrays` with each key's forming bar as its latest: appended (the oldest bar drops
    out) when it starts after the key's last closed bar, else it replaces that bar."""
    out = replace(arrays, **{f: getattr(arrays, f).copy() for f in PRICE_FIELDS})
    out_last = arrays.last_start.copy()
    for row, key in enumerate(arrays.keys):
        bar = forming.get(key)
        if bar is None:
            continue
        if bar.t > out_last[row]:
            for field in PRICE_FIELDS:
                values = getattr(out, field)
                values[row, :-1] = values[row, 1:]
        values_now = (bar.o, bar.h, bar.l, bar.c, bar.v)
        for field, value in zip(PRICE_FIELDS, values_now, strict=True):
            getattr(out, field)[row, -1] = value
        out_last[row] = bar.t
    return replace(out, last_start=out_last)
