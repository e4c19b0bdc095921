"""The alerts page's form takes an instrument by symbol (issue 21, item 8): a symbol picked
from the list (its key sent as `picked_key`), or typed (`RELIANCE` is its NSE_EQ listing),
or a key as before; a symbol nobody lists is refused with a clear error and no alert."""

from __future__ import annotations

import html
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from alerts.models import Alert
from prices.instruments import SAMPLE_SCRIP_MASTER
from prices.models import Instrument
from tests.support.alerts import RELIANCE

pytestmark = pytest.mark.django_db
TCS = "NSE_EQ:11536"
RELIANCE_BSE = "BSE_EQ:500325"


@pytest.fixture
def alice() -> Client:
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER), verbosity=0)
    client = Client()
    client.force_login(User.objects.create_user("alice", password="pw"))
    return client


def post(client: Client, **fields: str):
    form = {"condition": "above", "value": "1600", "frequency": "once", "cooldown_seconds": "60"}
    return client.post("/alerts/", form | fields)


def listed(symbol: str, segment: str, security_id: int) -> Instrument:
    exchange = segment.split("_")[0]
    return Instrument.objects.create(
        exchange_segment=segment,
        security_id=security_id,
        exchange=exchange,
        trading_symbol=symbol,
        instrument_type="EQUITY",
        tick_size=Decimal("0.05"),
    )


def test_a_typed_trading_symbol_makes_an_alert_on_its_nse_listing(alice):
    # RELIANCE is listed on NSE_EQ and BSE_EQ in the bundled scrip master: NSE_EQ wins.
    assert Instrument.objects.filter(trading_symbol="RELIANCE").count() == 2
    answer = post(alice, key="reliance")
    assert answer.status_code == 302, answer.content.decode()
    assert list(Alert.objects.values_list("key", "value")) == [(RELIANCE, Decimal("1600"))]


def test_a_picked_symbol_makes_an_alert_on_the_picked_listing(alice):
    answer = post(alice, key="RELIANCE", picked_key=RELIANCE_BSE, value="1600.05")
    assert answer.status_code == 302, answer.content.decode()
    assert list(Alert.objects.values_list("key", flat=True)) == [RELIANCE_BSE]


def test_a_stale_pick_gives_way_to_the_symbol_typed_over_it(alice):
    answer = post(alice, key="TCS", picked_key=RELIANCE)
    assert answer.status_code == 302, answer.content.decode()
    assert list(Alert.objects.values_list("key", flat=True)) == [TCS]


def test_a_key_is_still_taken_as_before(alice):
    answer = post(alice, key=RELIANCE)
    assert answer.status_code == 302, answer.content.decode()
    assert list(Alert.objects.values_list("key", flat=True)) == [RELIANCE]


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ("NOSUCHCO", "unknown symbol 'NOSUCHCO': pick an instrument from the list"),
        ("NSE_EQ:999999", "unknown instrument NSE_EQ:999999"),
        ("   ", "name an instrument"),
    ],
)
def test_an_unknown_instrument_is_refused_with_a_clear_error_and_no_alert(alice, key, error):
    answer = post(alice, key=key)
    assert answer.status_code == 200
    page = html.unescape(answer.content.decode())
    assert f'<p class="error" id="alert-error">{error}' in page
    assert not Alert.objects.exists()


def test_a_symbol_listed_once_outside_nse_eq_is_that_listing(alice):
    listed("ONLYBSE", "BSE_EQ", 900001)
    assert post(alice, key="ONLYBSE").status_code == 302
    assert list(Alert.objects.values_list("key", flat=True)) == ["BSE_EQ:900001"]


def test_a_symbol_listed_in_several_segments_but_not_nse_eq_must_be_picked(alice):
    listed("TWICE", "BSE_EQ", 900002)
    listed("TWICE", "MCX_COMM", 900003)
    page = html.unescape(post(alice, key="TWICE").content.decode())
    assert "TWICE is listed in BSE_EQ, MCX_COMM: pick one from the list" in page
    assert not Alert.objects.exists()


def test_a_bells_link_shows_the_symbol_with_its_key_picked(alice):
    page = alice.get(f"/alerts/?key={RELIANCE}").content.decode()
    assert 'name="key" value="RELIANCE"' in page
    assert f'name="picked_key" type="hidden" value="{RELIANCE}"' in page
    unknown = alice.get("/alerts/?key=NSE_EQ:999999").content.decode()
    assert 'name="key" value="NSE_EQ:999999"' in unknown
    assert 'name="picked_key" type="hidden" value=""' in unknown
