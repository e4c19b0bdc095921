"""Notices of a run's new entrants: told once per channel (browser, signed webhook in our
format or Chartink's, email), none on a re-run over unchanged bars, a crash's notices swept
once, a duplicated task sending nothing more."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.utils import timezone

from screeners import notify
from screeners.models import Screen, ScreenNotice
from tests.screeners.conftest import daily
from tests.screeners.conftest import make_screen as screen

pytestmark = pytest.mark.django_db


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


def test_an_email_tells_the_owner_once(committed, universe, pushes, django_user_model, mailoutbox):
    user = django_user_model.objects.create_user("trader", email="t@example.test", password="pw-1")
    made = screen(universe, owner=user, notify=True, notify_email=True)
    run = committed(made, follow=None)
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["t@example.test"]
    assert "CCC at 108.0" in mailoutbox[0].body and "AAA at 399.0" in mailoutbox[0].body
    notice = ScreenNotice.objects.get(run=run, channel="email")
    assert notice.state == "delivered"
    from screeners.tasks import send_email

    send_email(notice.pk)  # a duplicated task
    assert len(mailoutbox) == 1


def test_a_webhook_left_pending_is_swept_after_ten_minutes_not_one(
    committed, universe, receiver, pushes, django_user_model, monkeypatch
):
    user = django_user_model.objects.create_user("trader", password="pw-trader-1")
    made = notifying(universe, user, receiver)
    monkeypatch.setattr("screeners.runs._after_commit", lambda *a, **k: None)  # the crash
    run = committed(made, follow=None)
    webhook = ScreenNotice.objects.get(run=run, channel="webhook")
    soon = timezone.now() + notify.SWEEP_AFTER + timedelta(seconds=1)
    assert notify.sweep(now=soon) == 1  # the browser notice only: its task may be queued
    assert Receiver.seen == [] and ScreenNotice.objects.get(pk=webhook.pk).state == "pending"
    later = timezone.now() + notify.WEBHOOK_SWEEP_AFTER + timedelta(seconds=1)
    assert notify.sweep(now=later) == 1
    assert len(Receiver.seen) == 1 and ScreenNotice.objects.get(pk=webhook.pk).state == "delivered"
    assert notify.sweep(now=later) == 0
