"""What the alert tests in one process share (tests/alerts/test_alerts.py and
test_evaluator_faults.py): an alert made through the JSON API, prices published as the
feed's flush writes them, and an evaluator over the local price store."""

from __future__ import annotations

import json

from django.test import Client

from alerts.evaluator import Evaluator
from alerts.models import Alert
from prices.cache import Batch, LocalPriceStore

RELIANCE = "NSE_EQ:2885"  # tick 0.10 in the bundled scrip master
PRICE_TTL_SECONDS = 30


def publish(prices: dict[str, float]) -> None:
    """The feed's flush: the live and last-known prices in the cache."""
    LocalPriceStore().write(Batch(prices=prices, message="{}"), ttl_seconds=PRICE_TTL_SECONDS)


def make(user, condition="crosses_up", value="1520", **extra) -> Alert:
    """An alert on RELIANCE made by `user` through the API (which must accept it)."""
    client = Client()
    client.force_login(user)
    body = {"key": RELIANCE, "condition": condition, "value": value, **extra}
    response = client.post("/api/v1/alerts", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    return Alert.objects.get(pk=response.json()["alert"]["id"])


def evaluator(sent: list | None = None) -> Evaluator:
    """A loaded evaluator; what it notifies goes into `sent`."""
    notified = sent if sent is not None else []
    ev = Evaluator(notify=notified.extend, store=LocalPriceStore())
    ev.load()
    return ev
