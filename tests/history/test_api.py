"""`GET /api/v1/bars` and `GET /api/v1/instruments` as the contract has them."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import call_command

from history import store
from history.timeframes import Bar, day_start
from prices.instruments import SAMPLE_SCRIP_MASTER

pytestmark = pytest.mark.django_db
KEY = "NSE_EQ:2885"


def days(*dates: date) -> list[Bar]:
    return [Bar(day_start(d), 2845.05, 2850.0, 2840.1, 2846.15, 1000 + d.day) for d in dates]


def test_bars_are_closed_oldest_first_with_range_and_limit(client):
    store.upsert(KEY, "1d", days(date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)))

    body = client.get(f"/api/v1/bars?key={KEY}&tf=1d").json()
    ranged = client.get(f"/api/v1/bars?key={KEY}&tf=1d&from=2026-12-02&to=2026-12-02").json()
    limited = client.get(f"/api/v1/bars?key={KEY}&tf=1d&limit=2").json()

    assert body["key"] == KEY and body["tf"] == "1d" and body["forming"] is None
    assert body["bars"][0] == {
        "t": day_start(date(2026, 12, 1)),
        "o": 2845.05,
        "h": 2850.0,
        "l": 2840.1,
        "c": 2846.15,
        "v": 1001,
    }
    assert [b["v"] for b in ranged["bars"]] == [1002]
    assert [b["v"] for b in limited["bars"]] == [1002, 1003]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("key=NSE_XX:1&tf=1d", "segment"),
        ("key=NSE_EQ:2885&tf=2h", "unknown timeframe"),
        ("key=NSE_EQ:2885&tf=1d&from=2026-13-01", "'from' must be a date"),
        ("key=NSE_EQ:2885&tf=1d&from=2026-12-05&to=2026-12-01", "'from' is after 'to'"),
        ("key=NSE_EQ:2885&tf=1d&limit=5001", "limit"),
        ("tf=1d", "key"),
    ],
)
def test_a_bad_request_is_400_with_an_error(client, query, message):
    answer = client.get(f"/api/v1/bars?{query}")
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_instruments_match_symbol_prefixes_first_then_names(client):
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER))

    found = client.get("/api/v1/instruments?q=RELI").json()["instruments"]
    by_name = client.get("/api/v1/instruments?q=reliance industries").json()["instruments"]

    assert found[0]["symbol"] == "RELIANCE" and found[0]["key"] == KEY
    assert set(found[0]) == {"key", "symbol", "name", "segment", "tick_size", "lot_size"}
    assert any(i["key"] == KEY for i in by_name)
    assert client.get("/api/v1/instruments?q=RELI&segment=IDX_I").json()["instruments"] == []
    assert client.get("/api/v1/instruments?q=%20").status_code == 400
    assert client.get("/api/v1/instruments?q=A&limit=51").status_code == 400
    assert client.get("/api/v1/instruments?q=RELI&segment=XX").status_code == 400
