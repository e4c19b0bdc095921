"""The after-close job (`history.afterclose`) against the history stub (Data API and REST
market quote), on SQLite and on a real PostgreSQL: the day's `1d` bar of every instrument
that streamed, from its QUOTE record or the REST quote; today's minutes cross-checked
against `/charts/intraday`, differences counted and repaired; old minutes dropped; nothing
on a holiday or before the close."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from history import store
from history.afterclose import run_after_close
from history.timeframes import Bar, day_start
from prices.cache import Batch, price_store
from prices.calendar import IST
from tests.support.historystub import ACCESS_TOKEN, HistoryStub, make_instruments

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(databases=["default", "pg"])]

DAY = date(2026, 11, 27)  # a Friday, a trading day
AFTER_CLOSE = datetime(2026, 11, 27, 15, 40, tzinfo=IST)
QUOTED, REST_ONLY, STALE, SILENT = "NSE_EQ:2885", "NSE_EQ:1333", "NSE_EQ:11536", "NSE_EQ:500"
CANDLED = "NSE_EQ:3045"  # its QUOTE expired (30 s); its CANDLE record has the day's bar
QUOTE = {
    "ltp": 2850.4,
    "open": 2840.0,
    "high": 2861.35,
    "low": 2838.1,
    "volume": 123_456,
    "ltt": "2026-11-27T15:29:58+05:30",
}


@pytest.fixture
def stub(stub, monkeypatch):
    """The stub quoting DAY, and five streams' instruments."""
    stub.quote_day = DAY
    streams = [QUOTED, REST_ONLY, STALE, SILENT, CANDLED]
    monkeypatch.setattr("history.afterclose._STREAMED_KEYS", [lambda: streams])
    return stub


@pytest.fixture
def streamed(stub, using):
    """Five streams' instruments: one with today's QUOTE, one with a CANDLE record with
    the day's bar, one with a CANDLE record without it, one whose QUOTE is yesterday's,
    one that sent nothing today."""
    make_instruments(using, 2885, 1333, 11536, 500, 3045)
    stale = {**QUOTE, "ltt": "2026-11-26T15:29:58+05:30"}
    day_bar = {"t": day_start(DAY), "o": 611.2, "h": 620.05, "l": 605.0, "c": 618.75, "v": 9876}
    price_store().write(
        Batch(
            prices={},
            message="",
            quotes={QUOTED: QUOTE, STALE: stale},
            candles={
                REST_ONLY: {"forming": {}},
                STALE: {"forming": {}},
                CANDLED: {"forming": {"1d": day_bar}},
            },
        ),
        ttl_seconds=30,
    )
    return stub


def minutes(stub: HistoryStub, key: str) -> list[Bar]:
    return [Bar(*b) for b in stub.minute_bars(key, DAY)]


def test_day_bars_come_from_the_feed_or_the_rest_quote_for_instruments_that_streamed(
    streamed, using
):
    report = run_after_close(now=AFTER_CLOSE, using=using)

    (feed,) = store.read(QUOTED, "1d", using=using)
    assert feed == Bar(day_start(DAY), 2840.0, 2861.35, 2838.1, 2850.4, 123_456)
    (candle,) = store.read(CANDLED, "1d", using=using)
    assert candle == Bar(day_start(DAY), 611.2, 620.05, 605.0, 618.75, 9876)
    for key in (REST_ONLY, STALE):  # sent as float32, stored exactly
        assert [tuple(b) for b in store.read(key, "1d", using=using)] == [
            streamed.quote_bar(key, DAY)
        ]
    assert store.read(SILENT, "1d", using=using) == []
    assert (report.streamed, report.from_feed, report.from_rest, report.unpriced) == (4, 2, 2, 0)
    quotes = [c for c in streamed.calls if c.path.endswith("/quote")]
    assert len(quotes) == 1 and quotes[0].body["NSE_EQ"] == [1333, 11536]  # one call


def test_todays_minutes_are_cross_checked_and_repaired_from_dhanhq(streamed, using):
    ours = minutes(streamed, QUOTED)
    changed = ours[2]._replace(c=ours[2].c + 0.05, v=ours[2].v + 1)
    store.upsert(QUOTED, "1m", [ours[0], ours[1], changed, ours[4]], using=using)  # 1 missing
    store.upsert(STALE, "1m", minutes(streamed, STALE), using=using)  # all right

    report = run_after_close(now=AFTER_CLOSE, using=using)

    for key in (QUOTED, REST_ONLY, STALE, CANDLED):
        assert store.read(key, "1m", first=DAY, last=DAY, using=using) == minutes(streamed, key)
    assert (report.checked, report.missing, report.different) == (4, 1 + 5 + 5, 1)
    assert report.repaired == 12 and report.failed == 0 and report.calls == 4
    assert {c.key for c in streamed.chart_calls()} == {QUOTED, REST_ONLY, STALE, CANDLED}


def test_one_minute_bars_past_the_retention_are_dropped(streamed, using, settings):
    settings.HISTORY_INTRADAY_RETENTION_DAYS = 90
    old = Bar(day_start(date(2026, 8, 3)) + 33_300, 100.0, 100.0, 100.0, 100.0, 1)
    store.upsert(QUOTED, "1m", [old], using=using)

    report = run_after_close(now=AFTER_CLOSE, using=using)

    assert report.purged == 1
    assert store.read(QUOTED, "1m", using=using) == minutes(streamed, QUOTED)


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (datetime(2026, 11, 24, 15, 40, tzinfo=IST), "not a trading day"),  # a holiday
        (datetime(2026, 11, 28, 15, 40, tzinfo=IST), "not a trading day"),  # a Saturday
        (datetime(2026, 11, 27, 15, 29, tzinfo=IST), "the session is not over"),
    ],
)
def test_nothing_is_written_on_a_holiday_or_before_the_close(streamed, using, now, reason):
    report = run_after_close(now=now, using=using)

    assert report.skipped == reason
    assert store.read(QUOTED, "1d", using=using) == [] and streamed.calls == []


def test_an_account_without_the_data_api_still_gets_its_day_bars(streamed, using):
    streamed.no_data_api = True

    report = run_after_close(now=AFTER_CLOSE, using=using)

    assert "DH-902" in report.stopped and ACCESS_TOKEN not in report.stopped
    assert report.checked == 0 and len(streamed.chart_calls()) == 1
    assert all(store.read(k, "1d", using=using) for k in (QUOTED, REST_ONLY, STALE, CANDLED))
