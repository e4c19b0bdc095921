"""Screener pages in one process: bounded queries, the screen's own columns, sorting,
paging, entrants marked, visibility, Redis down."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path

from marketstream.api import api
from prices.models import Instrument
from prices.sink import PriceSink
from screeners.catalog import install_shipped
from screeners.models import Screen, ScreenRow, ScreenRun
from tests.support.screens import screener_urls

pytestmark = pytest.mark.django_db


STARTS: list[str] = []


def record_start(*, screener_type: str) -> str:
    STARTS.append(screener_type)
    return "recorded"


# The project's URLconf gives the pages the stream layer's starter; this one records.
urlpatterns = [
    path("screeners/", include(screener_urls(record_start))),
    path("api/v1/", api.urls),
    path("accounts/", include("accounts.urls")),  # the top bar's sign-in link
    path("orders/", include("orders.urls")),  # and, signed in, its other links
    path("alerts/", include("alerts.urls")),
    path("portfolio/", include("portfolio.urls")),
]


def set_market(is_open: bool, monkeypatch) -> None:
    monkeypatch.setattr("screeners.views.market_is_open", lambda: is_open)


@pytest.fixture(autouse=True)
def embedded(settings, monkeypatch):
    settings.REDIS_URL = ""
    settings.ROOT_URLCONF = __name__
    set_market(False, monkeypatch)
    STARTS.clear()


def make_run(slug: str, rows: int, *, entered: int = 0) -> ScreenRun:
    """A finished run of shipped screen `slug` with `rows` new instruments; the first
    `entered` of them marked new."""
    install_shipped()
    screen = Screen.objects.get(slug=slug)
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
    run = ScreenRun.objects.create(
        screen=screen,
        trigger="manual",
        state="done",
        computed_at=datetime.now(UTC),
        matched=rows,
        universe_size=rows,
        entered=[i.key for i in instruments[:entered]],
    )
    ScreenRow.objects.bulk_create(
        ScreenRow(
            run=run,
            instrument=inst,
            rank=i + 1,
            rank_value=100 - i / 10,
            columns={name: (None if i == 1 else float(i % 7)) for name in screen.columns},
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
    ScreenRun.objects.all().delete()
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
    first = run.rows.get(rank=1).instrument
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
    key = run.rows.get(rank=1).instrument.key
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
    install_shipped()
    assert client.get("/screeners/intraday").status_code == 404
    assert "No run of Long term yet" in client.get("/screeners/longterm").content.decode()
    assert client.get("/screeners/").status_code == 200


def test_the_screens_own_columns_show_null_as_a_dash_sort_and_entrants_are_marked(client):
    make_run("swing", 6, entered=2)
    page = client.get("/screeners/swing").content.decode()
    for label in ("Change 20d %", "RSI 14", "Volume ratio", "Close"):
        assert label in page
    assert page.count('class="js-row entered"') == 2 and "2 new" in page
    assert '<td class="num">—</td>' in page  # rank 2's columns are null
    by_change = client.get("/screeners/swing?sort=-change_20d_pct").content.decode()
    symbols = [s.split(" ")[0] for s in by_change.split('<td class="symbol">')[1:]]
    # i % 7 descending, null (SYM6X1) last; ties by rank
    assert symbols == ["SYM6X5", "SYM6X4", "SYM6X3", "SYM6X2", "SYM6X0", "SYM6X1"]


def test_a_users_screen_is_theirs_only(client, django_user_model):
    owner = django_user_model.objects.create_user("owner", password="pw-owner-1")
    other = django_user_model.objects.create_user("other", password="pw-other-1")
    Screen.objects.create(slug="mine", name="Mine", owner=owner, universe="segment:NSE_EQ",
                          condition="close > 1")  # fmt: skip
    assert client.get("/screeners/mine").status_code == 404  # anonymous
    client.force_login(other)
    assert client.get("/screeners/mine").status_code == 404
    assert "Mine" not in client.get("/screeners/").content.decode()
    client.force_login(owner)
    assert client.get("/screeners/mine").status_code == 200
    assert "Mine" in client.get("/screeners/").content.decode()


def test_the_results_page_finds_a_newer_run_through_latest_json(client):
    run = make_run("swing", 3)
    page = client.get("/screeners/swing").content.decode()
    assert f'data-run-id="{run.pk}"' in page and "screen_results.js" in page
    assert client.get("/screeners/swing/latest.json").json() == {"run_id": run.pk}
    newer = make_run("swing", 4)
    assert client.get("/screeners/swing/latest.json").json() == {"run_id": newer.pk}
    assert client.get("/screeners/nope/latest.json").status_code == 404
