"""The screens JSON API in one process: the live check's positions, create/read/change/
delete per the contract, a user's screens theirs only (another's is "not found"), shared
screens changed by staff only, a webhook secret never shown, runs queued (202) and their
results with entrants."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from django.test import Client

from accounts.models import ApiToken
from history.store import upsert
from history.timeframes import Bar, day_start, ist_day
from prices.models import Instrument
from screeners.catalog import install_shipped

pytestmark = pytest.mark.django_db

BAD = "close > smaa(close, 20)"


@pytest.fixture(autouse=True)
def keys(settings):
    settings.MARKETSTREAM_ENCRYPTION_KEY = Fernet.generate_key().decode()
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # the one internal address allowed


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice(django_user_model):
    return client_for(django_user_model.objects.create_user("alice", password="pw-alice-1"))


@pytest.fixture
def bob(django_user_model):
    return client_for(django_user_model.objects.create_user("bob", password="pw-bob-1"))


def post(client: Client, url: str, body: object, method: str = "post"):
    return getattr(client, method)(url, body, content_type="application/json")


def test_the_check_answers_ok_or_the_error_with_its_position(alice):
    assert post(alice, "/api/v1/screens/check", {"condition": "close > 5"}).json() == {"ok": True}
    bad = post(alice, "/api/v1/screens/check", {"condition": BAD})
    assert bad.status_code == 400 and bad.json()["position"] == BAD.index("smaa")
    assert "smaa" in bad.json()["error"]
    text = "volume / sma(volume, 0)"
    expression = post(alice, "/api/v1/screens/check", {"expression": text})
    assert expression.status_code == 400 and expression.json()["position"] == text.index("0")
    assert post(alice, "/api/v1/screens/check", {"condition": "close"}).status_code == 400
    assert post(alice, "/api/v1/screens/check", ["x"]).status_code == 400
    assert (
        Client().post("/api/v1/screens/check", {}, content_type="application/json").status_code
        == 401
    )


def test_a_screen_is_made_shown_changed_and_deleted_by_its_owner_only(alice, bob):
    body = {
        "name": "Golden cross",
        "condition": "sma(close, 50) crosses above sma(close, 200)",
        "columns": {"sma_50": "sma(close, 50)"},
        "schedule": "every_5_minutes",
        "notify": {"on": "entered", "email": True,
                   "webhook": {"url": "http://127.0.0.1:9/h", "secret": "hook-secret-1",
                               "format": "chartink"}},
    }  # fmt: skip
    made = post(alice, "/api/v1/screens", body)
    assert made.status_code == 201
    screen = made.json()["screen"]
    assert screen["slug"] == "golden-cross" and screen["owner"] == "alice"
    assert screen["universe"] == "segment:NSE_EQ" and screen["timeframe"] == "1d"
    assert screen["notify"] == {
        "on": "entered", "email": True,
        "webhook": {"url": "http://127.0.0.1:9/h", "format": "chartink"},
    }  # fmt: skip
    url = f"/api/v1/screens/{screen['id']}"
    assert "hook-secret-1" not in alice.get("/api/v1/screens").content.decode()
    for method in ("get", "patch", "delete"):
        assert post(bob, url, {"name": "mine now"}, method).status_code == 404
    assert screen["id"] not in [s["id"] for s in bob.get("/api/v1/screens").json()["screens"]]
    changed = post(alice, url, {"condition": "close > 10", "notify": None}, "patch")
    assert changed.status_code == 200 and changed.json()["screen"]["notify"] is None
    assert changed.json()["screen"]["name"] == "Golden cross"  # untouched
    bad = post(alice, url, {"condition": BAD}, "patch")
    assert bad.status_code == 400 and bad.json()["position"] == BAD.index("smaa")
    assert alice.get(url).json()["screen"]["condition"] == "close > 10"  # nothing lost
    assert alice.delete(url).json() == {"deleted": screen["id"]}
    assert alice.get(url).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"condition": BAD}, "condition"),
        ({"condition": "close > 1", "columns": {"x": "rsi(close)"}}, "columns.x"),
        ({"condition": "close > 1", "columns": {"Bad Name": "close"}}, "columns"),
        ({"condition": "close > 1", "universe": "segment:NOPE"}, "universe"),
        ({"condition": "close > 1", "limit": 501}, "limit"),
        ({"condition": "close > 1", "schedule": "every_7_minutes"}, "schedule"),
        ({"condition": "close > 1", "timeframe": "2d"}, "timeframe"),
        ({"condition": "close > 1", "rank_by": "close >"}, "rank_by"),
        ({"condition": "close > 1", "owner": "x", "extra": 1}, "extra"),
        (
            {
                "condition": "close > 1",
                "notify": {"webhook": {"url": "http://169.254.169.254/h", "secret": "long-enough"}},
            },
            "notify",
        ),
        ({"name": "no condition"}, "condition"),
    ],
)
def test_bad_screens_are_refused_naming_the_field(alice, body, field):
    refused = post(alice, "/api/v1/screens", body)
    assert refused.status_code == 400 and refused.json()["field"] == field, refused.json()


def test_shared_screens_are_shown_to_all_and_changed_by_staff_only(alice, django_user_model):
    install_shipped()
    screens = alice.get("/api/v1/screens").json()["screens"]
    swing = next(s for s in screens if s["slug"] == "swing")
    assert swing["owner"] is None
    url = f"/api/v1/screens/{swing['id']}"
    assert post(alice, url, {"limit": 10}, "patch").status_code == 403
    assert post(alice, f"{url}/run", {}).status_code == 403
    staff = client_for(
        django_user_model.objects.create_user("ops", password="pw-ops-1", is_staff=True)
    )
    assert post(staff, url, {"limit": 10}, "patch").json()["screen"]["limit"] == 10
    assert staff.delete(url).status_code == 403  # shared ones go in the admin


def test_a_run_is_queued_and_its_results_show_rows_and_entrants(
    alice, django_capture_on_commit_callbacks
):
    reliance = Instrument.objects.create(
        exchange_segment="NSE_EQ", security_id=2885, exchange="NSE", trading_symbol="RELIANCE",
        name="Reliance", instrument_type="EQUITY", series="EQ", tick_size=Decimal("0.05"),
    )  # fmt: skip
    last = ist_day(int(time.time())) - timedelta(days=1)
    days = [last - timedelta(days=i) for i in range(60)]  # newest first: closes fall
    upsert(reliance.key, "1d", [
        Bar(day_start(d), 100.0 + i, 101.0 + i, 99.0 + i, 100.0 + i, 10, None)
        for i, d in enumerate(days)
    ])  # fmt: skip
    made = post(alice, "/api/v1/screens", {
        "name": "Falling", "universe": "keys:NSE_EQ:2885", "condition": "close < close[1]",
        "columns": {"rsi": "rsi(close, 14)", "far": "sma(close, 200)"}, "rank_by": "close",
    }).json()["screen"]  # fmt: skip
    url = f"/api/v1/screens/{made['id']}"
    assert alice.get(f"{url}/results").json() == {
        "run": None,
        "rows": [],
        "entered": [],
        "exited": [],
    }
    with django_capture_on_commit_callbacks(execute=True):  # embedded: the task runs eagerly
        queued = alice.post(f"{url}/run")
    assert queued.status_code == 202
    results = alice.get(f"{url}/results").json()
    assert results["run"]["id"] == queued.json()["run_id"]
    assert results["run"]["universe_size"] == 1 and results["run"]["matched"] == 1
    assert results["rows"] == [{
        "key": "NSE_EQ:2885", "symbol": "RELIANCE", "rank": 1,
        "columns": {"rsi": 0.0, "far": None}, "rank_value": 100.0,
    }]  # fmt: skip
    assert results["entered"] == ["NSE_EQ:2885"] and results["exited"] == []


def test_a_token_reaches_the_screens_api(django_user_model):
    user = django_user_model.objects.create_user("script", password="pw-script-1")
    key = ApiToken.issue(user)
    listed = Client().get("/api/v1/screens", HTTP_AUTHORIZATION=f"Token {key}")
    assert listed.status_code == 200
    assert {s["slug"] for s in listed.json()["screens"]} == {"swing", "longterm"}  # shared


def test_a_screener_universe_must_name_a_screen_the_user_sees(alice, bob):
    bobs = post(bob, "/api/v1/screens", {"name": "Bobs", "condition": "close > 1"}).json()["screen"]
    refused = post(
        alice, "/api/v1/screens", {"condition": "close > 1", "universe": f"screener:{bobs['slug']}"}
    )
    assert refused.status_code == 400 and refused.json()["field"] == "universe"
    install_shipped()
    shared = post(
        alice, "/api/v1/screens", {"condition": "close > 1", "universe": "screener:swing"}
    )
    assert shared.status_code == 201
