"""Fixtures of the screens' tests: instruments with daily bars in the store (`universe`: four
stocks of known shapes), a screen over them (`screen`), and `committed`, a run whose
after-commit work is done as after a real commit. Its helpers (`instrument`, `daily`,
`make_screen`) are imported by the tests that write their own."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest

from history.store import upsert
from history.timeframes import Bar, day_start, ist_day
from prices.models import Instrument
from screeners.models import Screen
from screeners.runs import run_now


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`run_now`, its after-commit work (notices, the stream) done as after a real commit:
    each test's transaction never commits."""

    def run_committed(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return run_now(*args, **kwargs)

    return run_committed


def instrument(sid: int, symbol: str, *, series: str = "EQ") -> Instrument:
    return Instrument.objects.create(
        exchange_segment="NSE_EQ", security_id=sid, exchange="NSE", trading_symbol=symbol,
        name=symbol.title(), instrument_type="EQUITY", series=series, tick_size=Decimal("0.05"),
    )  # fmt: skip


def daily(key: str, closes: list[float]) -> None:
    """Daily bars ending yesterday, one per calendar day, the given closes."""
    last = ist_day(int(time.time())) - timedelta(days=1)
    first = last - timedelta(days=len(closes) - 1)
    upsert(
        key,
        "1d",
        [
            Bar(day_start(first + timedelta(days=i)), c, c + 1, c - 1, c, 1000 + i, None)
            for i, c in enumerate(closes)
        ],
    )


@pytest.fixture
def universe():
    """A rises 1 a day for 300 days, B falls, C rises 2 a day for 30, D has 10 bars."""
    a, b, c, d = (instrument(i, s) for i, s in enumerate(["AAA", "BBB", "CCC", "DDD"], start=1))
    daily(a.key, [100.0 + i for i in range(300)])
    daily(b.key, [500.0 - i for i in range(300)])
    daily(c.key, [50.0 + 2 * i for i in range(30)])
    daily(d.key, [10.0 + i for i in range(10)])
    return a, b, c, d


def make_screen(keys, *, owner=None, **fields) -> Screen:
    values = {
        "slug": "test-screen",
        "name": "Test screen",
        "universe": "keys:" + ",".join(i.key for i in keys),
        "condition": "close > sma(close, 20)",
        "columns": {"close": "close", "sma_50": "sma(close, 50)"},
        "rank_by": "change_pct(close, 5)",
    }
    return Screen.objects.create(owner=owner, **(values | fields))
