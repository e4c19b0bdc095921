"""The bar store on PostgreSQL (a real server the fixtures start) and on SQLite: exact
prices, idempotent upserts, resampling anchored at 09:15 IST, ranges and limits,
retention."""

from __future__ import annotations

from datetime import date

import pytest

from history import store
from history.models import Bar as BarRow
from history.timeframes import Bar, bucket_start, day_start

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(databases=["default", "pg"])]

KEY = "NSE_EQ:2885"
DAY = date(2026, 12, 4)  # a Friday
OPEN = day_start(DAY) + (9 * 60 + 15) * 60  # 09:15 IST


def minutes(n: int, *, start: int = OPEN, price: float = 2845.05) -> list[Bar]:
    def grid(x: float) -> float:
        return round(x, 2)

    return [
        Bar(
            start + 60 * i,
            grid(price + i * 0.05),
            grid(price + i * 0.05 + 0.1),
            grid(price - 0.05),
            price,
            10 + i,
        )
        for i in range(n)
    ]


def test_prices_come_back_exact_and_upserts_are_idempotent(using):
    bars = minutes(3)
    store.upsert(KEY, "1m", bars, using=using)
    store.upsert(KEY, "1m", bars, using=using)
    changed = bars[1]._replace(c=2846.15, v=999)
    store.upsert(KEY, "1m", [changed], using=using)

    got = store.read(KEY, "1m", using=using)

    assert BarRow.objects.using(using).count() == 3
    assert got == [bars[0], changed, bars[2]]
    assert [b.o for b in got] == [2845.05, 2845.1, 2845.15]


def test_intraday_timeframes_are_anchored_at_0915_ist(using):
    store.upsert(KEY, "1m", minutes(375), using=using)  # 09:15 to 15:29

    five = store.read(KEY, "5m", using=using)
    hour = store.read(KEY, "1h", using=using)
    half = store.read(KEY, "30m", using=using)

    assert len(five) == 75 and five[0].t == OPEN and five[1].t == OPEN + 300
    assert [b.t for b in hour] == [OPEN + 3600 * i for i in range(7)]
    assert hour[-1].v == sum(10 + i for i in range(360, 375))  # 15:15-15:30, 15 minutes
    assert hour[0].o == 2845.05 and hour[0].c == 2845.05 and hour[0].h == 2848.1
    assert len(half) == 13 and half[-1].t == OPEN + 12 * 1800
    assert sum(b.v for b in five) == sum(b.v for b in store.read(KEY, "1m", using=using))


def test_weeks_and_months_come_from_days(using):
    days = [date(2026, 11, d) for d in (26, 27, 30)] + [date(2026, 12, d) for d in (1, 2)]
    store.upsert(
        KEY,
        "1d",
        [
            Bar(day_start(d), 100.0 + i, 110.0 + i, 90.0, 101.0 + i, 1000)
            for i, d in enumerate(days)
        ],
        using=using,
    )

    weeks = store.read(KEY, "1w", using=using)
    months = store.read(KEY, "1mo", using=using)

    assert [b.t for b in weeks] == [day_start(date(2026, 11, 23)), day_start(date(2026, 11, 30))]
    assert weeks[1].o == 102.0 and weeks[1].c == 105.0 and weeks[1].v == 3000
    assert [b.t for b in months] == [day_start(date(2026, 11, 1)), day_start(date(2026, 12, 1))]
    assert months[0].v == 3000 and months[1].h == 114.0


def test_a_range_is_inclusive_and_limit_keeps_the_latest(using):
    days = [date(2026, 12, d) for d in (1, 2, 3, 4)]
    store.upsert(
        KEY, "1d", [Bar(day_start(d), 1.0, 1.0, 1.0, 1.0, d.day) for d in days], using=using
    )

    assert [b.v for b in store.read(KEY, "1d", first=days[1], last=days[2], using=using)] == [2, 3]
    assert [b.v for b in store.read(KEY, "1d", limit=2, using=using)] == [3, 4]
    assert store.read("NSE_EQ:1", "1d", using=using) == []


def test_old_minutes_are_dropped_and_days_kept(using, settings):
    settings.HISTORY_INTRADAY_RETENTION_DAYS = 10
    old = minutes(2, start=OPEN - 20 * 86_400)
    store.upsert(KEY, "1m", old + minutes(2), using=using)
    store.upsert(KEY, "1d", [Bar(day_start(date(2020, 1, 1)), 1.0, 1.0, 1.0, 1.0, 1)], using=using)

    assert store.purge_old_minutes(now=OPEN + 3600, using=using) == 2

    assert [b.t for b in store.read(KEY, "1m", using=using)] == [OPEN, OPEN + 60]
    assert len(store.read(KEY, "1d", using=using)) == 1


def test_bucket_start_of_the_last_hour_and_before_the_open():
    assert bucket_start(OPEN + 6 * 3600 + 14 * 60, "1h") == OPEN + 6 * 3600  # 15:29 -> 15:15
    assert bucket_start(OPEN - 60, "1h") == OPEN - 3600  # 09:14 -> 08:15 (DEV_MODE)
    assert bucket_start(OPEN + 100, "1d") == day_start(DAY)
