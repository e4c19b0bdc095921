"""Alert webhooks never reach the server's own network (issue 19, item 1): internal
targets are refused when an alert is made (the API, the page, the admin) and again at
every delivery (DNS rebinding), redirects are not followed, the event records a coarse
outcome per try, and the operator's WEBHOOK_ALLOWED_HOSTS lets an internal receiver through.
DNS here is a fake `socket.getaddrinfo` (tests cannot reach the internet)."""

from __future__ import annotations

import json
import socket

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from alerts.evaluator import Evaluator
from alerts.models import Alert, AlertEvent
from prices.cache import Batch, LocalPriceStore
from prices.instruments import SAMPLE_SCRIP_MASTER
from tests.support.receivers import FakeDNS, Receiver

pytestmark = pytest.mark.django_db(transaction=True)
RELIANCE = "NSE_EQ:2885"
SECRET = "s3cret-for-hooks"
INTERNAL = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://10.0.0.1/hook",
    "http://[::1]/hook",
    "http://0.0.0.0:8000/hook",
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://localhost:6379/",
    "http://127.1:6379/",
]


@pytest.fixture(autouse=True)
def world(settings):
    settings.MARKETSTREAM_ENCRYPTION_KEY = Fernet.generate_key().decode()
    settings.ALERT_WEBHOOK_RETRY_SCALE = 0.0
    settings.WEBHOOK_ALLOWED_HOSTS = []
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER), verbosity=0)


@pytest.fixture
def dns(monkeypatch) -> FakeDNS:
    fake = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@pytest.fixture
def alice() -> Client:
    client = Client()
    client.force_login(User.objects.create_user("alice", email="", password="pw"))
    return client


def create(client: Client, url: str):
    body = {
        "key": RELIANCE,
        "condition": "crosses_up",
        "value": "1520",
        "webhook": {"url": url, "secret": SECRET},
    }
    return client.post("/api/v1/alerts", json.dumps(body), content_type="application/json")


def fire() -> AlertEvent:
    """A crossing of the alert's level, delivered as the evaluator's notify does (Celery
    runs eagerly here, retries included)."""
    from alerts.notify import notify

    LocalPriceStore().write(Batch(prices={RELIANCE: 1500.0}, message="{}"), ttl_seconds=30)
    evaluator = Evaluator(notify=lambda events: None, store=LocalPriceStore())
    evaluator.load()
    notify(evaluator.on_prices({RELIANCE: 1530.0}))
    return AlertEvent.objects.get()


@pytest.mark.parametrize("url", INTERNAL)
def test_an_internal_webhook_target_is_refused_when_the_alert_is_made(alice, url):
    response = create(alice, url)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"].endswith(": not allowed")
    assert not Alert.objects.exists()


def test_the_refusal_names_the_internal_address_even_when_spelt_oddly(alice):
    error = create(alice, "http://0x7f000001:6379/").json()["error"]
    assert (
        error == "the webhook URL's host is an internal address (127.0.0.1: loopback): not allowed"
    )


def test_a_host_name_resolving_to_an_internal_address_is_refused(alice, dns):
    dns.answers["hooks.example.com"] = ["93.184.216.34", "10.0.0.1"]
    response = create(alice, "https://hooks.example.com/in")
    assert response.status_code == 400
    assert response.json()["error"] == (
        "the webhook URL's host resolves to an internal address (10.0.0.1: private): not allowed"
    )


def test_a_host_name_that_does_not_resolve_is_refused(alice, dns):
    dns.answers["nowhere.example.com"] = []
    response = create(alice, "https://nowhere.example.com/in")
    assert response.status_code == 400
    assert response.json()["error"] == "the webhook URL's host nowhere.example.com does not resolve"


def test_the_alerts_page_refuses_an_internal_webhook_too(alice):
    page = alice.post(
        "/alerts/",
        {
            "key": RELIANCE,
            "condition": "above",
            "value": "1600",
            "webhook_url": "http://169.254.169.254/",
            "webhook_secret": SECRET,
        },
    )
    assert page.status_code == 200 and "not allowed" in page.content.decode()
    assert not Alert.objects.exists()


def test_a_target_that_resolves_internal_at_delivery_is_blocked_and_not_retried(alice, dns):
    """DNS rebinding: public when the alert is made, this machine when it fires."""
    with Receiver() as internal:  # a service on the server's own network
        dns.answers["hooks.example.com"] = ["93.184.216.34"]
        assert create(alice, internal.url(host="hooks.example.com")).status_code == 201
        dns.answers["hooks.example.com"] = ["127.0.0.1"]
        event = fire()
    assert internal.seen == []
    assert event.webhook == "failed"
    assert [{k: v for k, v in a.items() if k != "at"} for a in event.attempts] == [
        {"outcome": "blocked"}
    ]


def test_a_redirect_is_not_followed_and_recorded_as_refused_with_its_status(alice, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # the first receiver is the operator's
    with Receiver() as second, Receiver(status=307, headers={"Location": second.url()}) as first:
        assert create(alice, first.url()).status_code == 201
        event = fire()
    assert second.seen == []  # the signed body never went anywhere else
    assert first.seen and all(
        s.headers["X-MarketStream-Event"] == str(event.event_id) for s in first.seen
    )
    assert event.webhook == "failed"
    assert {json.dumps({k: v for k, v in a.items() if k != "at"}) for a in event.attempts} == {
        '{"outcome": "refused", "status": 307}'
    }


def test_attempts_record_a_coarse_outcome_never_an_exception_name(alice, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: every connection is refused
        assert create(alice, f"http://127.0.0.1:{closed.getsockname()[1]}/hook").status_code == 201
        event = fire()
    assert event.webhook == "failed" and len(event.attempts) > 1  # retried, then given up
    for attempt in event.attempts:
        assert set(attempt) == {"at", "outcome"} and attempt["outcome"] == "unreachable"
    shown = json.dumps(alice.get(f"/api/v1/alerts/{event.alert_id}/events").json())
    assert "Error" not in shown and "unreachable" in shown


def test_the_operator_allowlist_lets_an_internal_receiver_through(alice, settings):
    with Receiver() as receiver:
        refused = create(alice, receiver.url())
        assert refused.status_code == 400
        assert "(127.0.0.1: loopback): not allowed" in refused.json()["error"]
        settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
        assert create(alice, receiver.url()).status_code == 201
        event = fire()
    assert len(receiver.seen) == 1 and event.webhook == "delivered"
    assert [{k: v for k, v in a.items() if k != "at"} for a in event.attempts] == [
        {"outcome": "delivered", "status": 200}
    ]
    assert "webhook delivered (1 tries)" in alice.get("/alerts/").content.decode()


def test_staff_cannot_point_an_alert_at_an_internal_address_in_the_admin(alice, dns):
    dns.answers["hooks.example.com"] = ["93.184.216.34"]
    assert create(alice, "https://hooks.example.com/in").status_code == 201
    alert = Alert.objects.get()
    staff = Client()
    staff.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    form = {
        "user": alert.user_id,
        "key": alert.key,
        "condition": alert.condition,
        "value": str(alert.value),
        "frequency": alert.frequency,
        "cooldown_seconds": alert.cooldown_seconds,
        "note": "",
        "status": alert.status,
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "1000",
    }
    page = f"/admin/alerts/alert/{alert.pk}/change/"
    refused = staff.post(page, {**form, "webhook_url": "http://169.254.169.254/latest/"})
    assert refused.status_code == 200  # the form again, with the error
    assert "169.254.169.254: link-local): not allowed" in refused.content.decode()
    alert.refresh_from_db()
    assert alert.webhook_url == "https://hooks.example.com/in"
    saved = staff.post(page, {**form, "webhook_url": "https://hooks.example.com/other"})
    assert saved.status_code == 302
    alert.refresh_from_db()
    assert alert.webhook_url == "https://hooks.example.com/other"
