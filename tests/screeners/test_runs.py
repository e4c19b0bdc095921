"""Screen runs in one process over bars in the store: matches, ranks and columns computed
from bars; short histories left out or null; entrants against the previous run; each
entrant's notices sent once (browser, signed webhook in both formats), none on a re-run
over unchanged bars, a crash's notices swept once; the screen's stream follows its rows."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
import talib
from cryptography.fernet import Fernet
from django.utils import timezone

from history.store import upsert
from history.timeframes import Bar, day_start, ist_day
from prices.models import Instrument
from prices.sink import PriceSink
from screeners import notify
from screeners.models import Screen, ScreenNotice, ScreenRun
from screeners.runs import run_now
from screeners.tasks import run_due
from streams.models import Stream

pytestmark = pytest.mark.django_db


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


def screen(keys, *, owner=None, **fields) -> Screen:
    values = {
        "slug": "test-screen",
        "name": "Test screen",
        "universe": "keys:" + ",".join(i.key for i in keys),
        "condition": "close > sma(close, 20)",
        "columns": {"close": "close", "sma_50": "sma(close, 50)"},
        "rank_by": "change_pct(close, 5)",
    }
    return Screen.objects.create(owner=owner, **(values | fields))


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


class Receiver(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[dict, bytes]] = []

    def do_POST(self):
        Receiver.seen.append(
            (dict(self.headers), self.rfile.read(int(self.headers["Content-Length"])))
        )
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.MARKETSTREAM_ENCRYPTION_KEY = Fernet.generate_key().decode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.fixture
def pushes(monkeypatch):
    sent = []
    monkeypatch.setattr(
        notify,
        "push_to_user",
        lambda user_id, *, kind, message: sent.append((user_id, kind, message)),
    )
    return sent


def notifying(universe, user, url, fmt="marketstream") -> Screen:
    made = screen(universe, owner=user, notify=True, webhook_url=url, webhook_format=fmt)
    made.set_webhook_secret("hook-secret-1")
    made.save()
    return made


def test_new_entrants_are_told_once_and_a_rerun_on_unchanged_bars_tells_nobody(
    committed, universe, receiver, pushes, django_user_model
):
    a, b, c, _d = universe
    user = django_user_model.objects.create_user("trader", password="pw-trader-1")
    made = notifying(universe, user, receiver)
    first = committed(made, follow=None)
    assert [m["type"] for _, _, m in pushes] == ["screen_entered"]
    assert [e["key"] for e in pushes[0][2]["entered"]] == [c.key, a.key]
    assert pushes[0][:2] == (user.pk, "screen")
    assert len(Receiver.seen) == 1
    headers, body = Receiver.seen[0]
    sent = json.loads(body)
    assert sent["entered"] == [
        {"key": c.key, "symbol": "CCC", "price": 108.0},
        {"key": a.key, "symbol": "AAA", "price": 399.0},
    ]
    assert sent["run_id"] == first.pk and sent["screen"] == "test-screen"
    notice = ScreenNotice.objects.get(run=first, channel="webhook")
    assert headers["X-MarketStream-Event"] == sent["event_id"] == str(notice.event_id)
    mac = hmac.new(b"hook-secret-1", body, hashlib.sha256).hexdigest()
    assert headers["X-MarketStream-Signature"] == f"sha256={mac}"
    assert notice.state == "delivered" and [t["outcome"] for t in notice.attempts] == ["delivered"]

    again = committed(made, follow=None)  # unchanged bars
    assert again.entered == [] and again.exited == []
    assert len(pushes) == 1 and len(Receiver.seen) == 1
    assert not ScreenNotice.objects.filter(run=again).exists()

    daily(b.key, [500.0 - i for i in range(299)] + [900.0])  # B jumps above its average
    third = committed(made, follow=None)
    assert third.entered == [b.key]
    assert [e["key"] for e in json.loads(Receiver.seen[-1][1])["entered"]] == [b.key]
    assert len(pushes) == 2 and len(Receiver.seen) == 2


def test_the_chartink_format_is_chartinks_alert_payload(
    committed, universe, receiver, pushes, django_user_model
):
    user = django_user_model.objects.create_user("trader", password="pw-trader-1")
    committed(notifying(universe, user, receiver, fmt="chartink"), follow=None)
    sent = json.loads(Receiver.seen[0][1])
    assert set(sent) == {
        "stocks",
        "trigger_prices",
        "triggered_at",
        "scan_name",
        "scan_url",
        "alert_name",
    }
    assert sent["stocks"] == "CCC,AAA" and sent["trigger_prices"] == "108,399"
    assert sent["scan_name"] == "Test screen" and sent["scan_url"] == "test-screen"
    assert sent["triggered_at"].endswith(("am", "pm"))


def test_notices_a_crash_left_pending_are_swept_once(
    committed, universe, pushes, django_user_model, monkeypatch
):
    user = django_user_model.objects.create_user("trader", password="pw-trader-1")
    made = screen(universe, owner=user, notify=True)
    monkeypatch.setattr("screeners.runs._after_commit", lambda *a, **k: None)  # the crash
    run = committed(made, follow=None)
    notice = ScreenNotice.objects.get(run=run)
    assert notice.state == "pending" and pushes == []
    later = timezone.now() + notify.SWEEP_AFTER + timedelta(seconds=1)
    assert notify.sweep(now=later) == 1
    assert notify.sweep(now=later) == 0
    assert len(pushes) == 1 and ScreenNotice.objects.get(pk=notice.pk).state == "delivered"


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
