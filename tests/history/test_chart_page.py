"""The chart page `/chart/<KEY>` (history/views.py): an instrument's chart with its
timeframe switcher and the library's credit, a 404 for a key nobody lists, and sign-in
first when MARKETSTREAM_LOGIN_REQUIRED (as every other page)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from prices.instruments import SAMPLE_SCRIP_MASTER

pytestmark = pytest.mark.django_db
RELIANCE = "NSE_EQ:2885"
LIBRARY = "/static/vendor/lightweight-charts/lightweight-charts.standalone.production.js"


@pytest.fixture(autouse=True)
def instruments() -> None:
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER), verbosity=0)


def test_the_chart_page_draws_the_instruments_chart_and_credits_the_library():
    answer = Client().get(f"/chart/{RELIANCE}")
    assert answer.status_code == 200
    page = answer.content.decode()
    assert "<h1>RELIANCE</h1>" in page
    assert f'class="chart js-chart" data-instrument-key="{RELIANCE}" data-tf="1d"' in page
    assert 'data-tick="0.1"' in page  # RELIANCE's tick in the bundled scrip master
    assert f'data-library-src="{LIBRARY}"' in page
    assert page.count('class="tf js-tf"') == 6
    assert 'href="https://www.tradingview.com/"' in page
    assert "TradingView Lightweight Charts</a>" in page
    assert Client().get(LIBRARY).status_code == 200


@pytest.mark.parametrize(("asked", "shown"), [("5m", "5m"), ("1w", "1w"), ("7x", "1d")])
def test_the_page_opens_in_the_timeframe_asked_when_it_is_one_of_the_switchers(asked, shown):
    page = Client().get(f"/chart/{RELIANCE}?tf={asked}").content.decode()
    assert f'data-instrument-key="{RELIANCE}" data-tf="{shown}"' in page


@pytest.mark.parametrize("key", ["NSE_EQ:999999", "NSE_EQ:RELIANCE", "RELIANCE", "XX:1"])
def test_a_key_nobody_lists_is_a_404(key):
    assert Client().get(f"/chart/{key}").status_code == 404


def test_with_login_required_an_anonymous_visitor_signs_in_first(settings):
    settings.MARKETSTREAM_LOGIN_REQUIRED = True
    answer = Client().get(f"/chart/{RELIANCE}")
    assert answer.status_code == 302
    assert answer["Location"].startswith("/accounts/login/?next=/chart/")
    member = Client()
    member.force_login(User.objects.create_user("alice", password="pw"))
    assert member.get(f"/chart/{RELIANCE}").status_code == 200
