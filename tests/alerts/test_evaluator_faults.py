"""The evaluator under faults (issue 19, items 0, 4 and 5): one alert that cannot be
judged, fired or delivered costs only itself (set to `error`, its reason shown, logged
once) while the others fire; `above`/`below` alerts true when made fire at once, with the
price they were judged at as the previous price (never -1.0 or Infinity), through
`refresh` and the running `AlertService`; a body nested too deep is a 400."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import DataError
from django.test import Client
from kombu.exceptions import OperationalError as BrokerError

from alerts.api import event_json
from alerts.evaluator import Evaluator
from alerts.models import Alert, AlertEvent
from alerts.service import AlertService, prices_of
from alerts.tasks import deliver_webhook, webhook_body
from prices.cache import Batch, LocalPriceStore
from prices.instruments import SAMPLE_SCRIP_MASTER
from tests.support.alerts import RELIANCE, evaluator, make, publish
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
TCS = "NSE_EQ:11536"
SERVICE_WAIT_SECONDS = 15.0  # a polling bound: the service refreshes its alerts every second


@pytest.fixture(autouse=True)
def world(settings):
    settings.MARKETSTREAM_ENCRYPTION_KEY = Fernet.generate_key().decode()
    settings.ALERT_WEBHOOK_RETRY_SCALE = 0.0
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER), verbosity=0)


@pytest.fixture
def alice():
    return User.objects.create_user("alice", email="alice@example.com", password="pw")


@pytest.fixture
def owner(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def moves(events) -> list[tuple[int, Decimal, Decimal]]:
    return [(e.alert_id, e.previous_price, e.price) for e in events]


def logged_about(caplog, alert: Alert) -> list[logging.LogRecord]:
    return [r for r in caplog.records if f"alert {alert.pk}:" in r.getMessage()]


def test_an_alert_whose_firing_cannot_be_stored_is_set_aside_once_and_the_others_fire(
    alice, owner, monkeypatch, caplog
):
    publish({RELIANCE: 1500.0})
    bad = make(alice, "crosses_up", "1510")
    good = make(alice, "crosses_up", "1520")
    create = AlertEvent.objects.create

    def create_but_not_for_bad(**fields):  # the database refusing this alert's event only
        if fields["alert"].pk == bad.pk:
            raise DataError("numeric field overflow")
        return create(**fields)

    monkeypatch.setattr(AlertEvent.objects, "create", create_but_not_for_bad)
    sent: list = []
    ev = evaluator(sent)
    fired = ev.on_prices({RELIANCE: 1530.0})  # crosses both levels; the bad one is judged first
    assert moves(fired) == [(good.pk, Decimal("1500"), Decimal("1530"))]
    assert sent == fired
    bad.refresh_from_db()
    assert bad.status == "error" and "numeric field overflow" in bad.error_reason
    assert bad.fire_count == 0 and not bad.events.exists()  # its UPDATE rolled back with it
    # Judged no more: later batches, a refresh and a restarted evaluator leave it be.
    ev.on_prices({RELIANCE: 1505.0})
    ev.on_prices({RELIANCE: 1531.0})
    ev.refresh()
    evaluator().on_prices({RELIANCE: 1500.0})
    assert len(logged_about(caplog, bad)) == 1
    assert Alert.objects.get(pk=bad.pk).status == "error"
    # Its owner sees why, in the API and on the page.
    shown = owner.get(f"/api/v1/alerts/{bad.pk}").json()["alert"]
    assert shown["status"] == "error" and "numeric field overflow" in shown["error"]
    assert owner.get(f"/api/v1/alerts/{good.pk}").json()["alert"]["error"] is None
    page = owner.get("/alerts/").content.decode()
    assert "numeric field overflow" in page and "no longer judged" in page


def test_the_issues_below_alert_true_when_made_fires_at_once_and_the_next_one_still_fires(
    alice, owner
):
    publish({RELIANCE: 1500.0})
    good = make(alice, "crosses_up", "1520")
    form = {"key": RELIANCE, "condition": "below", "value": "100000", "frequency": "once"}
    assert owner.post("/alerts/", form).status_code == 302
    below = Alert.objects.get(condition="below")
    assert list(Alert.objects.filter(status="active")) == [below, good]  # the load order
    sent: list = []
    ev = evaluator(sent)  # loads: `below` is true already
    ev.on_prices({RELIANCE: 1530.0})
    assert moves(sent) == [
        (below.pk, Decimal("1500"), Decimal("1500")),  # the price it was judged at
        (good.pk, Decimal("1500"), Decimal("1530")),
    ]
    shown = owner.get(f"/api/v1/alerts/{below.pk}/events").json()["events"]
    assert [(e["previous_price"], e["price"]) for e in shown] == [(1500.0, 1500.0)]
    assert not Alert.objects.filter(status="error").exists()


@pytest.mark.parametrize(("condition", "value"), [("above", "1400"), ("below", "1600")])
def test_a_state_alert_true_when_made_fires_at_once_at_the_judged_price(alice, condition, value):
    publish({RELIANCE: 1500.0})
    make(alice, "crosses_up", "1520")  # the evaluator watches the instrument already
    sent: list = []
    ev = evaluator(sent)
    ev.on_prices({RELIANCE: 1502.0})
    alert = make(alice, condition, value)
    assert moves(ev.refresh()) == [(alert.pk, Decimal("1502"), Decimal("1502"))]
    body = json.loads(webhook_body(sent[0]))
    assert (body["previous_price"], body["price"]) == (1502.0, 1502.0)  # no -1.0, no Infinity


def test_an_above_alert_true_when_made_on_an_instrument_no_alert_watches_fires_at_once(alice):
    publish({RELIANCE: 1500.0, TCS: 3500.0})
    make(alice, "crosses_up", "1520")  # the evaluator watches RELIANCE only
    sent: list = []
    ev = evaluator(sent)
    ev.on_prices({TCS: 3510.0})  # not watched: not judged
    publish({TCS: 3510.0})
    above = make(alice, "above", "3000", key=TCS)
    fired = ev.refresh()  # how the service takes alerts made while it runs
    assert moves(fired) == [(above.pk, Decimal("3510"), Decimal("3510"))]
    assert sent == fired
    assert event_json(fired[0])["previous_price"] == 3510.0


def test_a_state_alert_made_before_any_price_fires_at_the_first_one_true(alice):
    above = make(alice, "above", "3000", key=TCS)  # no price known: none to judge it by
    crossing = make(alice, "crosses_up", "3000", key=TCS)
    sent: list = []
    ev = evaluator(sent)
    assert sent == []
    ev.on_prices({TCS: 3500.0})
    assert moves(sent) == [(above.pk, Decimal("3500"), Decimal("3500"))]
    assert Alert.objects.get(pk=crossing.pk).fire_count == 0  # a crossing needs a move


def test_a_crossing_before_an_alert_was_made_never_fires_it_on_an_instrument_unwatched_since(
    alice,
):
    publish({RELIANCE: 1500.0})
    make(alice, "crosses_up", "1520")
    sent: list = []
    ev = evaluator(sent)
    ev.on_prices({RELIANCE: 1530.0})  # fires: no alert watches RELIANCE any more
    ev.on_prices({RELIANCE: 1600.0})  # not judged
    publish({RELIANCE: 1600.0})
    later = make(alice, "crosses_up", "1550")  # made at 1600: 1550 was crossed before it
    assert ev.refresh() == []
    ev.on_prices({RELIANCE: 1601.0})
    assert [e.alert_id for e in sent if e.alert_id == later.pk] == []


def test_a_delivery_that_fails_for_one_event_neither_stops_the_evaluator_nor_the_others(
    alice, caplog
):
    publish({RELIANCE: 1500.0})
    bad = make(alice, "crosses_up", "1510")
    good = make(alice, "crosses_up", "1520")
    delivered: list = []

    def notify(events):
        if any(e.alert_id == bad.pk for e in events):
            raise BrokerError("the broker refused the task")
        delivered.extend(events)

    ev = Evaluator(notify=notify, store=LocalPriceStore())
    ev.load()
    fired = ev.on_prices({RELIANCE: 1530.0})
    assert {e.alert_id for e in fired} == {bad.pk, good.pk}  # both stored
    assert [e.alert_id for e in delivered] == [good.pk]
    assert len(logged_about(caplog, bad)) == 1
    assert Alert.objects.get(pk=bad.pk).status == "triggered"  # it fired: not its fault


def test_a_webhook_that_cannot_be_queued_is_marked_failed_and_the_others_are_queued(
    alice, monkeypatch
):
    from alerts.notify import notify

    publish({RELIANCE: 1500.0})
    hook = {"url": "http://127.0.0.1:9/hook", "secret": "s3cret-for-hooks"}
    bad = make(alice, "crosses_up", "1510", webhook=hook)
    good = make(alice, "crosses_up", "1520", webhook=hook)
    queued: list = []

    def delay(event_id):
        if AlertEvent.objects.get(pk=event_id).alert_id == bad.pk:
            raise BrokerError("the broker refused the task")
        queued.append(event_id)

    monkeypatch.setattr(deliver_webhook, "delay", delay)
    ev = Evaluator(notify=notify, store=LocalPriceStore())
    ev.load()
    fired = ev.on_prices({RELIANCE: 1530.0})
    assert {e.alert_id for e in fired} == {bad.pk, good.pk}
    assert queued == [AlertEvent.objects.get(alert=good).pk]
    lost = AlertEvent.objects.get(alert=bad)
    assert lost.webhook == "failed" and lost.attempts[-1]["outcome"] == "not queued"


def test_a_non_finite_price_in_a_batch_is_never_judged():
    message = '{"prices": {"NSE_EQ:1": NaN, "NSE_EQ:2": Infinity, "NSE_EQ:3": 1.5}}'
    assert prices_of(message) == {"NSE_EQ:3": 1.5}


def test_the_service_logs_a_repeated_failure_with_one_traceback_then_a_line_each(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # Redis gone: every turn fails alike
    settings.MARKETSTREAM_ALERT_EVALUATOR = True
    service = AlertService()
    service.failure_wait_seconds = 0.01

    def failures() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage().startswith("alert-evaluator")]

    service.start()
    try:
        wait_until(lambda: len(failures()) >= 3, timeout=SERVICE_WAIT_SECONDS, what="failures")
    finally:
        service.stop()
    assert service.is_alive() is False and not service.leading.is_set()
    # A traceback is exc_info, or exc_text once the redacting filter has rendered it.
    assert [bool(r.exc_info or r.exc_text) for r in failures()[:3]] == [True, False, False]


def test_a_body_nested_a_thousand_deep_gets_a_400_json_error(owner):
    body = "[" * 1000 + "]" * 1000
    response = owner.post("/api/v1/alerts", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper" in response.json()["error"]
    assert not Alert.objects.exists()


def test_the_running_service_fires_alerts_true_when_made_and_keeps_judging_the_rest(
    alice, owner, settings, caplog
):
    settings.REDIS_URL = ""  # embedded mode: the process's store hands it the batches
    settings.MARKETSTREAM_ALERT_EVALUATOR = True
    store = LocalPriceStore()

    def feed(prices: dict[str, float]) -> None:
        store.write(Batch(prices=prices, message=json.dumps({"prices": prices})), ttl_seconds=30)

    feed({RELIANCE: 1500.0, TCS: 3500.0})
    good = make(alice, "crosses_up", "1520")
    service = AlertService(local_store=store)
    service.start()
    try:
        assert service.leading.wait(SERVICE_WAIT_SECONDS)
        form = {"key": RELIANCE, "condition": "below", "value": "100000", "frequency": "once"}
        assert owner.post("/alerts/", form).status_code == 302  # the issue's alert
        above = make(alice, "above", "3000", key=TCS)  # on an instrument none watched
        fired = AlertEvent.objects.filter(alert__condition__in=["below", "above"])
        wait_until(lambda: fired.count() == 2, timeout=SERVICE_WAIT_SECONDS, what="at once")
        feed({RELIANCE: 1530.0})
        crossed = AlertEvent.objects.filter(alert=good)
        wait_until(crossed.exists, timeout=SERVICE_WAIT_SECONDS, what="the crossing alert")
    finally:
        service.stop()
    below = Alert.objects.get(condition="below")
    assert sorted(moves(AlertEvent.objects.all())) == [
        (good.pk, Decimal("1500"), Decimal("1530")),
        (below.pk, Decimal("1500"), Decimal("1500")),
        (above.pk, Decimal("3500"), Decimal("3500")),
    ]
    assert not [r for r in caplog.records if r.name == "prices.loops"]  # no turn failed
