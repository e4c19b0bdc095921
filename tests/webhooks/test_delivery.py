"""webhooks.delivery.deliver against real local receivers: the signed POST goes to the
address the check passed (never to what DNS says later), redirects are not followed, and
each try's outcome is coarse (no exception names)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket

import pytest
import requests

from tests.support.certificates import self_signed, server_tls
from tests.support.receivers import FakeDNS, Receiver
from webhooks.delivery import deliver, session_for
from webhooks.targets import TargetRefused, check_url

BODY = json.dumps({"event_id": "e-1", "price": 1530.0}).encode()
SECRET = "s3cret-for-hooks"


def answers(*addresses: str):
    """A resolver that answers every name with `addresses`."""
    return lambda host, port: list(addresses)


@pytest.fixture(autouse=True)
def no_allowlist(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []


@pytest.fixture
def dns(monkeypatch) -> FakeDNS:
    fake = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


def send(url: str, **kwargs):
    return deliver(url, BODY, secret=SECRET, event_id="e-1", **kwargs)


def test_the_post_is_signed_and_carries_the_event_id(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    with Receiver(status=204) as receiver:
        outcome = send(receiver.url())
    assert outcome.delivered and outcome.attempt() == {"outcome": "delivered", "status": 204}
    [seen] = receiver.seen
    expected = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert seen.headers["X-MarketStream-Signature"] == expected
    assert seen.headers["X-MarketStream-Event"] == "e-1"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.body == BODY and seen.path == "/hook"


def test_the_connection_goes_to_the_checked_address_not_to_a_later_dns_answer(settings, dns):
    """The check resolved hooks.example.test to 127.0.0.2; DNS now says 127.0.0.3 (a
    rebinding attacker's second answer). The body reaches 127.0.0.2, and only it."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.example.test"]
    with Receiver("127.0.0.2") as checked, Receiver("127.0.0.3", checked.port) as elsewhere:
        dns.answers["hooks.example.test"] = ["127.0.0.3"]
        outcome = send(checked.url(host="hooks.example.test"), resolve=answers("127.0.0.2"))
    assert outcome.delivered
    assert [s.body for s in checked.seen] == [BODY] and elsewhere.seen == []
    assert checked.seen[0].headers["Host"] == f"hooks.example.test:{checked.port}"
    assert dns.asked == []  # the sender never looked the name up again


def test_a_name_that_resolves_internal_at_delivery_is_blocked_before_any_connection():
    """Fine when the webhook was made (a public address), internal now: DNS rebinding."""
    public_then_internal = iter([["93.184.216.34"], ["127.0.0.1"]])

    def resolve(host: str, port: int) -> list[str]:
        return next(public_then_internal)

    with Receiver() as internal:
        url = internal.url(host="hooks.example.test")
        assert str(check_url(url, resolve=resolve).address) == "93.184.216.34"  # at creation
        outcome = send(url, resolve=resolve)  # at delivery
    assert outcome.attempt() == {"outcome": "blocked"} and not outcome.worth_retrying
    assert "127.0.0.1: loopback" in outcome.why  # for the operator's log
    assert internal.seen == []


def test_a_redirect_is_not_followed_and_counts_as_refused(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # both receivers are allowed: still not
    with Receiver() as second, Receiver(status=307, headers={"Location": second.url()}) as first:
        outcome = send(first.url())
    assert outcome.attempt() == {"outcome": "refused", "status": 307}
    assert outcome.worth_retrying and not outcome.delivered
    assert len(first.seen) == 1 and second.seen == []


def test_a_receiver_error_is_refused_with_its_status(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    with Receiver(status=503) as receiver:
        assert send(receiver.url()).attempt() == {"outcome": "refused", "status": 503}


def test_no_connection_or_no_address_is_unreachable_without_an_exception_name(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connections are refused
        no_listener = send(f"http://127.0.0.1:{port}/hook")
    no_address = send("https://hooks.example.test/", resolve=lambda host, port: [])
    for outcome in (no_listener, no_address):
        assert outcome.attempt() == {"outcome": "unreachable"} and outcome.worth_retrying


def test_over_tls_the_pinned_connection_checks_the_certificate_for_the_urls_name(
    settings, tmp_path
):
    cert, key = self_signed("hooks.test", tmp_path)
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.test", "other.test"]
    with Receiver(tls=server_tls(cert, key)) as receiver:
        good = check_url(
            receiver.url(host="hooks.test", scheme="https"), resolve=answers("127.0.0.1")
        )
        with session_for(good) as session:
            response = session.post(good.url, data=BODY, verify=str(cert))
        assert response.status_code == 200
        wrong = check_url(
            receiver.url(host="other.test", scheme="https"), resolve=answers("127.0.0.1")
        )
        with session_for(wrong) as session, pytest.raises(requests.exceptions.SSLError):
            session.post(wrong.url, data=BODY, verify=str(cert))
    assert (
        len(receiver.seen) == 1
        and receiver.seen[0].headers["Host"] == f"hooks.test:{receiver.port}"
    )


def test_a_pinned_session_sends_nothing_to_any_other_url(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    with Receiver() as receiver:
        target = check_url(receiver.url(), resolve=answers())
        with session_for(target) as session, pytest.raises(TargetRefused):
            session.post(f"http://127.0.0.2:{receiver.port}/hook", data=BODY)
    assert receiver.seen == []
