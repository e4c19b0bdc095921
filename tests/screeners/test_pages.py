"""Screener pages in one process: bounded queries, sorting, paging, Redis down."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path

from marketstream.api import api
from prices.models import Instrument
from prices.sink import PriceSink
from screeners.models import ScreenerResult, ScreenerRun

pytestmark = pytest.mark.django_db


STARTS: list[str] = []


def record_start(*, screener_type: str) -> str:
    STARTS.append(screener_type)
    return "recorded"


# The project's URLconf gives the pages the stream layer's starter; this one records.
urlpatterns = [
    path("screeners/", include("screeners.urls"), {"ensure_stream": record_start}),
    path("api/v1/", api.urls),
    path("accounts/", include("accounts.urls")),  # the top bar's sign-in link
]


def set_market(is_open: bool, monkeypatch) -> None:
    monkeypatch.setattr("screeners.views.market_is_open", lambda: is_open)


@pytest.fixture(autouse=True)
def embedded(settings, monkeypatch):
    settings.REDIS_URL = ""
    settings.ROOT_URLCONF = __name__
    set_market(False, monkeypatch)
    STARTS.clear()


def make_run(screener_type: str, rows: int) -> ScreenerRun:
    instruments = Instrument.objects.bulk_create(
        Instrument(
            exchange_segment="NSE_EQ",
            security_id=100_000 + i + rows * 10_000,
            exchange="NSE",
            trading_symbol=f"SYM{rows}X{i}",
            name=f"Company {i}",
            instrument_type="EQUITY",
            series="EQ",
            tick_size=Decimal("0.05"),
        )
        for i in range(rows)
    )
    run = ScreenerRun.objects.create(screener_type=screener_type, computed_at=datetime.now(UTC))
    ScreenerResult.objects.bulk_create(
        ScreenerResult(
            run=run,
            instrument=inst,
            rank=i + 1,
            score=Decimal(100 - i / 10),
            rsi_14=Decimal("55.5"),
            change_20d_pct=Decimal(i % 7),
            volume_ratio=Decimal("1.2"),
        )
        for i, inst in enumerate(instruments)
    )
    return run


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("screener_type", ["swing", "longterm"])
@pytest.mark.parametrize("market", ["closed", "opened"])
def test_queries_are_bounded_whatever_the_row_count(client, monkeypatch, screener_type, market):
    set_market(market == "opened", monkeypatch)
    make_run(screener_type, 10)
    small = count_queries(client, f"/screeners/{screener_type}?per_page=500")
    ScreenerRun.objects.all().delete()
    make_run(screener_type, 500)
    url = f"/screeners/{screener_type}?per_page=500"
    large = count_queries(client, url)
    assert small == large <= 4
    body = client.get(url).content.decode()
    assert body.count('<tr class="js-row"') == 500
    assert body.count('class="num js-ltp-cell') == 500 + 3  # and the index strip's three
    # Each view asks for its screener's stream and the index strip's.
    assert ([screener_type, "indices"] * 3 if market == "opened" else []) == STARTS


def test_rows_show_cached_prices_change_from_previous_close_and_sort_and_page(client):
    run = make_run("swing", 30)
    first = run.results.get(rank=1).instrument
    sink = PriceSink()
    sink.put(first.key, 1612.35)
    sink.put_prev_closes({first.key: 1600.0})
    sink.flush()
    page = client.get("/screeners/swing?per_page=10").content.decode()
    assert f'data-instrument-key="{first.key}"' in page
    assert 'data-price="1612.35">1612.35</td>' in page
    assert "12.35 (0.77%)" in page
    assert "Page 1 of 3" in page and "market closed" in page
    second = client.get("/screeners/swing?per_page=10&page=2").content.decode()
    assert f'data-instrument-key="{first.key}"' not in second and "Page 2 of 3" in second
    by_symbol = client.get("/screeners/swing?sort=-symbol&per_page=5").content.decode()
    symbols = [s.split("<")[0] for s in by_symbol.split('<td class="symbol">')[1:]]
    assert symbols == sorted(symbols, reverse=True)


def test_last_known_prices_show_when_the_live_one_expired(client):
    run = make_run("longterm", 3)
    key = run.results.get(rank=1).instrument.key
    sink = PriceSink(ttl_seconds=1)
    sink.put(key, 99.5)
    sink.flush()
    from django.core.cache import cache

    cache.delete(f"ltp:{key}")  # the 30 s live price is gone; the last known one stays
    page = client.get("/screeners/longterm").content.decode()
    assert 'class="num js-ltp-cell stale"' in page and ">99.50</td>" in page


def test_the_page_renders_when_redis_is_down(client, settings):
    make_run("swing", 5)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = client.get("/screeners/swing")
    assert response.status_code == 200
    body = response.content.decode()
    assert "prices unavailable right now" in body
    assert body.count('js-ltp-cell unavailable"') == 5


def test_unknown_screener_is_404_and_empty_run_says_so(client):
    assert client.get("/screeners/intraday").status_code == 404
    assert "No long term screener run yet" in client.get("/screeners/longterm").content.decode()
    assert client.get("/screeners/").status_code == 200
