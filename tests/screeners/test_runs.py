"""Screen runs in one process over bars in the store: matches, ranks and columns computed
from bars; short histories left out or null; a segment's EQ series; entrants against the
previous run; the screen's stream following its rows; interval runs on the forming bar,
after-close runs on trading days; run_screen, the admin; failures said on the run."""

from __future__ import annotations

import time

import numpy as np
import pytest
import talib

from history.timeframes import day_start, ist_day
from prices.sink import PriceSink
from screeners.models import ScreenRun
from screeners.runs import run_now
from screeners.tasks import run_due
from streams.models import Stream
from tests.screeners.conftest import daily, instrument
from tests.screeners.conftest import make_screen as screen

pytestmark = pytest.mark.django_db


def test_rows_rank_and_columns_come_from_bars_and_short_histories_drop_or_go_null(
    committed, universe
):
    a, _b, c, _d = universe
    run = committed(screen(universe), follow=None)
    assert run.state == "done" and run.universe_size == 4 and run.matched == 2
    rows = list(run.rows.select_related("instrument").order_by("rank"))
    # B falls (no match); D has 10 bars: sma(close, 20) is undefined, so no match either.
    assert [r.instrument.key for r in rows] == [c.key, a.key]  # C rose faster over 5 days
    assert run.entered == [c.key, a.key] and run.exited == []  # the first run enters all
    closes = np.array([100.0 + i for i in range(300)])
    assert rows[1].columns == {"close": 399.0, "sma_50": round(talib.SMA(closes, 50)[-1], 4)}
    assert rows[0].columns == {"close": 108.0, "sma_50": None}  # C: 30 bars, no 50-bar SMA
    assert rows[0].rank_value == pytest.approx((108 / 98 - 1) * 100, abs=1e-4)
    assert run.bars_as_of is not None and run.duration_ms >= 0


def test_not_over_a_short_history_does_not_match_it(committed, universe):
    run = committed(screen(universe, condition="not (rsi(close, 14) > 99)"), follow=None)
    keys = {r.instrument.key for r in run.rows.select_related("instrument")}
    _a, b, _c, _d = universe
    assert keys == {b.key}  # A's and C's RSI is 100; D's 10 bars give no RSI: no match


def test_a_segment_universe_is_its_eq_series(committed, universe):
    instrument(99, "SMEONE", series="SM")
    daily("NSE_EQ:99", [10.0 + i for i in range(300)])
    run = committed(screen(universe, universe="segment:NSE_EQ"), follow=None)
    assert run.universe_size == 4  # not the SM-series stock


def test_a_screen_saved_with_text_that_no_longer_parses_fails_saying_why(committed, universe):
    run = committed(screen(universe, condition="close >> 3"), follow=None)
    assert run.state == "failed" and "cannot run as saved" in run.error
    assert not ScreenRun.objects.filter(state="done").exists()


def test_the_screens_stream_follows_its_new_rows(committed, universe, settings):
    settings.REDIS_URL = ""  # embedded: the web process's connection restarts itself
    a, _b, c, d = universe
    made = screen(universe)
    Stream.objects.create(key=f"type:{made.slug}", screener_type=made.slug, instruments=[d.key],
                          desired_state="running")  # fmt: skip
    committed(made)
    stream = Stream.objects.get(key=f"type:{made.slug}")
    assert sorted(stream.instruments) == sorted([c.key, a.key])
    assert stream.generation == 1  # its connection is told to restart onto them


def test_an_every_minute_screen_runs_in_market_hours_on_the_forming_bar(universe, monkeypatch):
    a, _b, _c, _d = universe
    made = screen(universe, schedule="every_1_minutes", condition="close > 500")
    today = day_start(ist_day(int(time.time())))
    forming = {"t": today, "o": 399.0, "h": 1200.0, "l": 399.0, "c": 1100.0, "v": 5000}
    sink = PriceSink()
    sink.put_candles({a.key: {"forming": {"1d": forming}}})
    sink.flush()
    monkeypatch.setattr("screeners.tasks.calendar.market_is_open", lambda: False)
    assert run_due() == 0 and not ScreenRun.objects.exists()  # closed: nothing runs
    monkeypatch.setattr("screeners.tasks.calendar.market_is_open", lambda: True)
    assert run_due() == 1
    run = ScreenRun.objects.get(screen=made)
    assert run.forming and run.trigger == "interval"
    row = run.rows.select_related("instrument").get()
    assert row.instrument.key == a.key and row.price == 1100.0  # only A's forming bar is > 500
    assert run_now(made, follow=None).matched == 0  # a manual run: closed bars only


def test_run_screen_prints_the_table_and_a_bad_slug_is_a_plain_error(universe):
    from io import StringIO

    from django.core.management import CommandError, call_command

    screen(universe, slug="table")
    out = StringIO()
    call_command("run_screen", "table", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["#", "symbol", "close", "sma_50", "rank"]
    assert lines[1].split()[:3] == ["1", "CCC", "108.00"] and lines[1].split()[3] == "—"
    assert lines[-1].startswith("table: 2 of 4 matched") and "entered 2, left 0" in lines[-1]
    with pytest.raises(CommandError, match="no screen 'nope'"):
        call_command("run_screen", "nope")


def test_the_admin_runs_a_screen_now(universe, admin_client, django_capture_on_commit_callbacks):
    made = screen(universe)
    with django_capture_on_commit_callbacks(execute=True):  # embedded: the task runs eagerly
        answer = admin_client.post(
            "/admin/screeners/screen/",
            {"action": "run_now", "_selected_action": [made.pk]},
            follow=True,
        )
    assert "1 run(s) queued" in answer.content.decode()
    assert ScreenRun.objects.get(screen=made).state == "done"
    assert (
        admin_client.get(
            f"/admin/screeners/screenrun/{ScreenRun.objects.get().pk}/change/"
        ).status_code
        == 200
    )


def test_a_screener_universe_takes_only_a_screen_its_owner_may_see(
    committed, universe, django_user_model
):
    alice = django_user_model.objects.create_user("alice", password="pw-alice-1")
    bob = django_user_model.objects.create_user("bob", password="pw-bob-1")
    secret = screen(universe, owner=bob, slug="bobs")
    committed(secret, follow=None)
    # Saved through the API, the universe would be refused; saved another way, it runs empty.
    snooping = screen(
        universe, owner=alice, slug="snoop", universe="screener:bobs", condition="close > 0"
    )
    run = committed(snooping, follow=None)
    assert run.universe_size == 0 and run.matched == 0
    own = screen(
        universe, owner=bob, slug="bobs-too", universe="screener:bobs", condition="close > 0"
    )
    assert committed(own, follow=None).universe_size == 2  # bob's own rows: C and A


def test_a_run_the_worker_cannot_finish_ends_failed(universe, monkeypatch):
    from screeners.tasks import execute_run

    made = screen(universe)
    run = ScreenRun.objects.create(screen=made, trigger="manual")

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("screeners.runs.evaluate", broken)
    assert execute_run(run.pk) == "failed"
    assert ScreenRun.objects.get(pk=run.pk).error == "the run failed on the worker: see its log"


def test_after_close_runs_the_after_close_screens_on_trading_days_only(universe, monkeypatch):
    from screeners.tasks import after_close

    nightly = screen(universe, slug="nightly", schedule="after_close")
    screen(universe, slug="by-hand", schedule="manual")
    monkeypatch.setattr("screeners.tasks.calendar.is_trading_day", lambda day: False)
    assert after_close() == 0 and not ScreenRun.objects.exists()  # a holiday
    monkeypatch.setattr("screeners.tasks.calendar.is_trading_day", lambda day: True)
    assert after_close() == 3  # with the shipped swing and longterm
    ran = {r.screen.slug: r.trigger for r in ScreenRun.objects.select_related("screen")}
    assert ran == {nightly.slug: "after_close", "swing": "after_close", "longterm": "after_close"}
