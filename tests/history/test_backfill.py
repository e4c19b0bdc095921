"""Backfills (`history.backfill`) against the throttling history stub, on SQLite and on a
real PostgreSQL: exact bars, DhanHQ's exclusive `toDate`, 90-day chunks for minutes, the
rate limit kept and a DH-904 retried, a run killed halfway resumed with only what is
missing, a complete run re-run with no call, and today never recorded as fetched."""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

import pytest

from dhan.history import ChartInstrument, HistoryClient
from dhan.segments import InstrumentKey
from history import store
from history.backfill import backfill
from history.backfillplan import BackfillError, register_screener_source
from history.dataapi import data_api_client
from history.models import Bar as BarRow
from history.models import FetchedRange
from history.timeframes import day_start, ist_day
from prices.models import Instrument
from tests.support.historystub import (
    ACCESS_TOKEN,
    busiest_second,
    calls_of,
    daily_bars,
    fetch_concurrently,
    make_instruments,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(databases=["default", "pg"])]

TODAY = date(2026, 11, 30)  # a Monday
NOW = day_start(TODAY) + 20 * 3600  # 20:00 IST: the day's minutes are all closed
RELIANCE = "NSE_EQ:2885"


def test_daily_bars_are_stored_exactly_with_the_last_day_fetched(stub, using):
    keys = make_instruments(using, 2885, 1333, 11536)
    first, last = date(2026, 10, 1), date(2026, 11, 27)

    summary = backfill(timeframe="1d", keys=keys, first=first, last=last, now=NOW, using=using)

    for key in keys:
        stored = store.read(key, "1d", using=using)
        assert [tuple(b) for b in stored] == daily_bars(key, first, last)
    assert calls_of(stub) == {(k, "2026-10-01", "2026-11-28") for k in keys}  # one call each
    reliance = BarRow.objects.using(using).get(
        key=RELIANCE, timeframe="1d", start=day_start(date(2026, 10, 30))
    )
    assert reliance.open == Decimal("2845.05")  # sent as 2845.050048828125
    assert store.read(RELIANCE, "1d", using=using)[-1].t == day_start(last)  # a Friday
    assert (summary.instruments, summary.calls, summary.failed) == (3, 3, 0)
    assert summary.bars == 3 * len(daily_bars(RELIANCE, first, last))


def test_a_rerun_of_a_complete_backfill_makes_no_call(stub, using):
    keys = make_instruments(using, 2885, 1333)
    window = {"first": date(2026, 11, 2), "last": date(2026, 11, 27), "now": NOW}
    backfill(timeframe="1d", keys=keys, using=using, **window)
    backfill(timeframe="1m", keys=keys, using=using, **window)
    made = len(stub.chart_calls())

    again = [backfill(timeframe=tf, keys=keys, using=using, **window) for tf in ("1d", "1m")]

    assert len(stub.chart_calls()) == made == 4
    assert [(s.calls, s.skipped, s.bars) for s in again] == [(0, 2, 0), (0, 2, 0)]


def test_minute_ranges_are_split_in_90_day_chunks_and_today_is_not_recorded(stub, using):
    (key,) = make_instruments(using, 2885)

    backfill(timeframe="1m", keys=[key], first=date(2026, 6, 1), last=TODAY, now=NOW, using=using)

    assert sorted(calls_of(stub)) == [
        (key, "2026-06-01", "2026-08-30"),  # 90 days, toDate the day after
        (key, "2026-08-30", "2026-11-28"),
        (key, "2026-11-28", "2026-12-01"),  # reaches today
    ]
    recorded = FetchedRange.objects.using(using).order_by("first_day")
    assert recorded.last().last_day == date(2026, 11, 29)  # today is still moving
    assert (
        store.read(key, "1m", first=TODAY, last=TODAY, using=using)[-1].t
        == (
            stub.minute_bars(key, TODAY)[-1][0]  # today's closed minutes are stored
        )
    )
    made = len(stub.chart_calls())
    backfill(timeframe="1m", keys=[key], first=date(2026, 6, 1), last=TODAY, now=NOW, using=using)
    assert calls_of(stub, made) == {(key, "2026-11-30", "2026-12-01")}  # only today again


def test_a_backfill_killed_halfway_fetches_only_what_is_missing_when_run_again(
    stub, using, monkeypatch
):
    keys = make_instruments(using, 2885, 1333)
    window = {"first": date(2026, 5, 1), "last": date(2026, 11, 26), "now": NOW, "using": using}
    real_upsert, writes = store.upsert, []

    def dies_on_the_second_write(*args, **kwargs):
        writes.append(args[0])
        if len(writes) == 2:  # fetched, then killed before the chunk is stored
            raise KeyboardInterrupt
        return real_upsert(*args, **kwargs)

    monkeypatch.setattr(store, "upsert", dies_on_the_second_write)
    with pytest.raises(KeyboardInterrupt):
        backfill(timeframe="1m", keys=keys, **window)
    monkeypatch.setattr(store, "upsert", real_upsert)
    killed_after = len(stub.chart_calls())

    backfill(timeframe="1m", keys=keys, **window)

    assert killed_after == 2
    assert calls_of(stub, killed_after) == {  # 210 days: 90 + 90 + 30, less the one stored
        (keys[0], "2026-07-30", "2026-10-28"),
        (keys[0], "2026-10-28", "2026-11-27"),
        (keys[1], "2026-05-01", "2026-07-30"),
        (keys[1], "2026-07-30", "2026-10-28"),
        (keys[1], "2026-10-28", "2026-11-27"),
    }
    days = weekdays(date(2026, 5, 1), date(2026, 11, 26))
    for key in keys:
        want = [bar for day in days for bar in stub.minute_bars(key, day)]
        assert [tuple(b) for b in store.read(key, "1m", using=using)] == want


def weekdays(first: date, last: date) -> list[date]:
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [day for day in days if day.weekday() < 5]


def test_no_second_holds_more_than_five_calls_and_a_dh904_is_retried(stub):
    keys = make_instruments("default", *range(101, 113))
    stub.refuse_next()

    summary = backfill(
        timeframe="1d", keys=keys, first=date(2026, 9, 1), last=date(2026, 11, 27), now=NOW
    )

    calls = stub.chart_calls()
    assert busiest_second([c.at for c in calls]) <= 5  # every call, refused ones included
    assert [c.status for c in calls].count(429) == 1 and len(calls) == 13
    assert (summary.calls, summary.rate_limited, summary.failed) == (13, 1, 0)
    assert all(store.read(k, "1d") for k in keys)  # the refused call's instrument too


def test_an_account_without_the_data_api_stops_the_run_with_a_plain_reason(stub):
    keys = make_instruments("default", 2885, 1333)
    stub.no_data_api = True

    summary = backfill(timeframe="1d", keys=keys, now=NOW)

    assert summary.refused and "DH-902" in summary.stopped and ACCESS_TOKEN not in summary.stopped
    assert len(stub.chart_calls()) == 1 and not FetchedRange.objects.exists()


def test_instruments_come_from_keys_a_segment_or_a_registered_screener(stub, monkeypatch):
    make_instruments("default", 2885, 1333)
    make_instruments("default", 52175, segment="NSE_FNO")
    window = {"first": date(2026, 11, 23), "last": date(2026, 11, 27), "now": NOW}
    monkeypatch.setattr("history.backfillplan._SCREENER_SOURCE", [])

    with pytest.raises(BackfillError, match="knows no screeners"):
        backfill(timeframe="1d", screener="swing", **window)
    register_screener_source(lambda slug: Instrument.objects.filter(security_id=1333))
    assert backfill(timeframe="1d", screener="swing", **window).instruments == 1
    assert backfill(timeframe="1d", segment="NSE_EQ", **window).instruments == 2
    with pytest.raises(BackfillError, match="unknown instrument keys: NSE_EQ:9"):
        backfill(timeframe="1d", keys=["NSE_EQ:2885", "NSE_EQ:9"], **window)
    with pytest.raises(BackfillError, match="one of"):
        backfill(timeframe="1d", keys=["NSE_EQ:2885"], segment="NSE_EQ", **window)


def test_a_backfill_from_the_bundled_simulator_through_the_sdk_is_exact(
    simulator, sim_credentials, settings
):
    settings.DHANHQ_API_URL = f"http://127.0.0.1:{simulator.rest_port}/v2"
    settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN = sim_credentials
    keys = make_instruments("default", 2885, 1333, 11536)
    yesterday = ist_day(int(time.time())) - timedelta(days=1)
    first = {"1d": yesterday - timedelta(days=60), "1m": yesterday - timedelta(days=6)}

    made = [backfill(timeframe=tf, keys=keys, first=first[tf], last=yesterday) for tf in first]

    archive, end = simulator.charts.archive, yesterday + timedelta(days=1)
    for key in keys:
        days = archive.daily(InstrumentKey.parse(key), start=first["1d"], end=end)
        minutes = archive.intraday(
            InstrumentKey.parse(key),
            start=day_start(first["1m"]),
            end=day_start(end),
            interval_minutes=1,
        )
        for tf, theirs in (("1d", days), ("1m", minutes)):
            assert [tuple(b)[:6] for b in store.read(key, tf)] == [tuple(b)[:6] for b in theirs]
    counts = simulator.data_call_counts()[sim_credentials[0]]
    assert counts.refused == 0 and counts.served == sum(s.calls for s in made) == 6


def test_only_todays_closed_minutes_are_stored(stub):
    (key,) = make_instruments("default", 2885)
    mid_minute = day_start(TODAY) + (9 * 60 + 17) * 60 + 30  # 09:17:30 IST

    backfill(timeframe="1m", keys=[key], first=TODAY, last=TODAY, now=mid_minute)

    stored = store.read(key, "1m")  # 09:15 and 09:16 have closed; 09:17 has not
    assert [tuple(b) for b in stored] == stub.minute_bars(key, TODAY)[:2]
    assert not FetchedRange.objects.exists()


def test_clients_in_different_processes_share_one_gate_on_redis(stub, redis_url, settings):
    # One gate object per client, as in two processes: only the Redis key is shared.
    settings.CACHES = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url}
    }
    clients = [data_api_client() for _ in range(3)]
    reliance = ChartInstrument(InstrumentKey.parse(RELIANCE), "EQUITY", 0.05)

    def fetch(client: HistoryClient) -> None:
        for _ in range(6):
            client.daily(reliance, first=date(2026, 11, 23), last=date(2026, 11, 27))

    fetch_concurrently(clients, fetch)

    calls = stub.chart_calls()
    assert len(calls) == 18 and {c.status for c in calls} == {200}
    assert busiest_second([c.at for c in calls]) <= 5
