"""Screens for tests: daily bars from the simulator's own price model written straight into
the bar store (what a backfill from the simulator fetches, without its Data API's pace),
and runs of the shipped screens over them. In-process (`seed`) or in a stack's database
(`SEED_COMMAND`, through `manage.py shell`)."""

from __future__ import annotations

import json
import random
import time
from datetime import date, timedelta

from dhan.clock import ist_day
from dhan.segments import InstrumentKey
from dhan.simulator import BASE_PRICES_FILE
from dhan.simulator.archive import PriceArchive
from dhan.simulator.book import PriceBook
from dhan.simulator.minutes import MinuteRecorder

DAYS = 420  # calendar days: about 290 sessions, enough for the 252-session terms
SEED_COMMAND = ("shell", "-c", "from tests.support.screens import seed; seed()")


def archive() -> PriceArchive:
    base = json.loads(BASE_PRICES_FILE.read_text())["prices"]
    book = PriceBook(tick_size=lambda key: 0.05, base_prices=base, rng=random.Random(7))
    return PriceArchive(book, MinuteRecorder())


def daily_bars(keys: list[str], *, days: int = DAYS, today: date | None = None) -> list:
    """(key, history Bar) of `days` calendar days before `today` (IST), simulator-made."""
    from history.timeframes import Bar

    today = today or ist_day(time.time())
    made = archive()
    out = []
    for key in keys:
        for b in made.daily(
            InstrumentKey.parse(key), start=today - timedelta(days=days), end=today
        ):
            out.append((key, Bar(b.start, b.open, b.high, b.low, b.close, b.volume, None)))
    return out


def seed(keys: list[str] | None = None, *, using: str = "default") -> list:
    """Bars for `keys` (default: every NSE equity in the table) and a run of each shipped
    screen; returns the runs."""
    from history.store import upsert_many
    from prices.models import Instrument
    from screeners.catalog import install_shipped
    from screeners.runs import run_now

    if keys is None:
        keys = [i.key for i in Instrument.objects.using(using).filter(exchange_segment="NSE_EQ")]
    upsert_many("1d", daily_bars(keys), using=using)
    return [run_now(screen, follow=None) for screen in install_shipped()]


# Fixed rows for tests of what follows a screen's results (streams, pages, prices) rather
# than how they are computed: these keys, in this order, as the shipped screens' latest runs.
FIXED_ROWS = {
    "swing": [
        "NSE_EQ:5258",
        "NSE_EQ:10604",
        "NSE_EQ:2475",
        "NSE_EQ:1964",
        "NSE_EQ:17963",
        "NSE_EQ:3045",
        "NSE_EQ:21808",
        "NSE_EQ:910",
        "NSE_EQ:157",
        "NSE_EQ:1363",
        "NSE_EQ:11532",
        "NSE_EQ:11723",
        "NSE_EQ:1660",
        "NSE_EQ:16669",
        "NSE_EQ:1232",
        "NSE_EQ:5900",
        "NSE_EQ:317",
        "NSE_EQ:1333",
        "NSE_EQ:11536",
        "NSE_EQ:2885",
    ],
    "longterm": [
        "NSE_EQ:7229",
        "NSE_EQ:157",
        "NSE_EQ:694",
        "NSE_EQ:4306",
        "NSE_EQ:16675",
        "NSE_EQ:1964",
        "NSE_EQ:10604",
        "NSE_EQ:2031",
        "NSE_EQ:5900",
        "NSE_EQ:236",
        "NSE_EQ:2475",
        "NSE_EQ:18143",
        "NSE_EQ:10999",
        "NSE_EQ:5258",
        "NSE_EQ:3045",
        "NSE_EQ:2885",
        "NSE_EQ:21808",
        "NSE_EQ:11483",
        "NSE_EQ:3351",
        "NSE_EQ:910",
        "NSE_EQ:317",
        "NSE_EQ:383",
        "NSE_EQ:1594",
        "NSE_EQ:3499",
        "NSE_EQ:17963",
        "NSE_EQ:13538",
        "NSE_EQ:4963",
        "NSE_EQ:11195",
        "NSE_EQ:3787",
        "NSE_EQ:15083",
    ],
}
RECORD_COMMAND = ("shell", "-c", "from tests.support.screens import record_runs; record_runs()")


def record_runs(rows: dict[str, list[str]] | None = None) -> list:
    """A finished run of each shipped screen holding `rows` (default FIXED_ROWS), its
    columns made up from the rank. Needs the instruments loaded."""
    from django.utils import timezone

    from prices.models import Instrument
    from screeners.catalog import install_shipped
    from screeners.models import ScreenRow, ScreenRun

    rows = rows or FIXED_ROWS
    by_key = {i.key: i for i in Instrument.objects.filter(exchange_segment="NSE_EQ")}
    missing = sorted({k for keys in rows.values() for k in keys} - set(by_key))
    if missing:
        raise LookupError(f"instruments not loaded (load_instruments first): {missing}")
    runs = []
    for screen in install_shipped():
        keys = rows.get(screen.slug, [])
        run = ScreenRun.objects.create(
            screen=screen, trigger="manual", state="done", computed_at=timezone.now(),
            universe_size=len(keys), matched=len(keys), entered=list(keys),
        )  # fmt: skip
        ScreenRow.objects.bulk_create(
            ScreenRow(
                run=run,
                instrument=by_key[key],
                rank=rank,
                columns={name: float(100 - rank) for name in screen.columns},
                rank_value=float(100 - rank),
            )
            for rank, key in enumerate(keys, start=1)
        )
        runs.append(run)
    return runs


def screener_urls(ensure_stream) -> tuple:
    """`screeners.urls` for a test URLconf (`include(...)`), its list and results pages
    given `ensure_stream` (a recorder) instead of the stream layer's starter."""
    from django.urls import path

    from screeners import urls, views

    given = {"ensure_stream": ensure_stream}
    patterns = [
        path("", views.index, given, name="index"),
        path("<slug:screener_type>", views.screener, given, name="screener"),
        *(p for p in urls.urlpatterns if p.name not in ("index", "screener")),
    ]
    return patterns, urls.app_name
