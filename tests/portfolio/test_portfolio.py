"""The portfolio: valued in exact decimals from the simulator's fills and prices (a hand
computation), moving with the prices; the API and the WebSocket only for the owner."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from channels.testing import WebsocketCommunicator
from cryptography.fernet import Fernet
from dhanhq import DhanContext, dhanhq
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from accounts.models import BrokerAccount
from dhan.segments import InstrumentKey
from dhan.simulator import DhanSimulator, SimulatorConfig
from portfolio.tasks import refresh_account
from portfolio.valuation import Line, value
from portfolio.views import portfolio_of
from prices.cache import Batch, LocalPriceStore
from prices.instruments import SAMPLE_SCRIP_MASTER
from tests.support.instruments import sample_tick_sizes
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
RELIANCE, TCS = "NSE_EQ:2885", "NSE_EQ:11536"
CLIENT_ID, TOKEN = "1100000001", "alice-token-" + "q" * 30


def test_valuation_is_a_hand_computation_in_decimals():
    lines = [
        Line("holding", TCS, "TCS", 10, Decimal("3000.55")),
        Line("position", RELIANCE, "RELIANCE", 5, Decimal("1500.1"), Decimal("12.5")),
    ]
    ltp = {TCS: Decimal("3010.05"), RELIANCE: Decimal("1510.3")}
    closes = {TCS: Decimal("3005.00")}
    result = value(lines, ltp, closes)
    tcs, reliance = result["holdings"]
    assert tcs["value"] == Decimal("30100.50") and tcs["pnl"] == Decimal("95.00")
    assert tcs["day_pnl"] == Decimal("50.50")
    assert reliance["pnl"] == Decimal("12.5") + Decimal("10.2") * 5 == reliance["day_pnl"]
    assert result["totals"] == {
        "value": Decimal("30100.50") + Decimal("7551.5"),
        "day_pnl": Decimal("50.50") + Decimal("63.5"),
        "pnl": Decimal("95.00") + Decimal("63.5"),
    }


@pytest.fixture
def sim(settings):
    config = SimulatorConfig(
        port=0,
        rest_port=0,
        accounts={CLIENT_ID: TOKEN},
        holdings={CLIENT_ID: [{"key": TCS, "quantity": 10, "avg_cost": 3000.55}]},
        ticks_per_second=20,
    )
    simulator = DhanSimulator(config, tick_size=sample_tick_sizes()).start()
    settings.DHANHQ_API_URL = f"http://127.0.0.1:{simulator.rest_port}/v2"
    settings.MARKETSTREAM_ENCRYPTION_KEY = Fernet.generate_key().decode()
    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER), verbosity=0)
    yield simulator
    simulator.stop()


def buy(sim, quantity: int) -> str:
    context = DhanContext(CLIENT_ID, TOKEN)
    context.get_dhan_http().base_url = f"http://127.0.0.1:{sim.rest_port}/v2"
    answer = dhanhq(context).place_order(
        security_id="2885", exchange_segment="NSE_EQ", transaction_type="BUY",
        quantity=quantity, order_type="MARKET", product_type="INTRADAY", price=0,
    )  # fmt: skip
    return str(answer["data"]["orderId"])


def publish(prices: dict[str, float], closes: dict[str, float] | None = None) -> None:
    LocalPriceStore().write(
        Batch(prices=prices, message="{}", prev_closes=closes or {}), ttl_seconds=30
    )


def test_the_portfolio_is_the_simulators_fills_valued_at_its_prices(sim):
    alice = User.objects.create_user("alice", password="pw")
    account = BrokerAccount(user=alice, client_id=CLIENT_ID)
    account.set_token(TOKEN)
    account.save()
    reliance = InstrumentKey.parse(RELIANCE)
    sim.prices.pin(reliance, 1500.0)
    order_id = buy(sim, 5)
    wait_until(lambda: sim.orders.get(CLIENT_ID, order_id).status == "TRADED", what="a fill")
    fill = Decimal(repr(sim.orders.get(CLIENT_ID, order_id).average_price))
    assert refresh_account(account) == 2
    publish({RELIANCE: 1510.3, TCS: 3010.05}, {TCS: 3005.0, RELIANCE: 1490.0})
    portfolio = portfolio_of(alice.pk)
    lines = {row["key"]: row for row in portfolio["holdings"]}
    assert lines[TCS]["value"] == Decimal("30100.50") and lines[TCS]["pnl"] == Decimal("95.00")
    assert lines[RELIANCE]["quantity"] == 5 and lines[RELIANCE]["avg_cost"] == fill
    assert lines[RELIANCE]["pnl"] == (Decimal("1510.3") - fill) * 5
    publish({RELIANCE: 1520.3})  # the price moves, so does the value
    moved = {row["key"]: row for row in portfolio_of(alice.pk)["holdings"]}
    assert moved[RELIANCE]["pnl"] - lines[RELIANCE]["pnl"] == Decimal("50.0")

    client = Client()
    assert client.get("/api/v1/portfolio").status_code == 401
    client.force_login(alice)
    body = client.get("/api/v1/portfolio").json()
    assert body["totals"]["value"] == str(moved[RELIANCE]["value"] + moved[TCS]["value"])
    bob = User.objects.create_user("bob", password="pw")
    client.force_login(bob)
    assert client.get("/api/v1/portfolio").json()["holdings"] == []


async def test_subscribe_portfolio_needs_a_session_and_sends_updates(settings):
    from asgiref.sync import sync_to_async

    from marketstream.asgi import build_application
    from marketstream.runtime import WebRuntime

    settings.MARKETSTREAM_ENCRYPTION_KEY = Fernet.generate_key().decode()

    @sync_to_async
    def setup():
        user = User.objects.create_user("alice", password="pw")
        account = BrokerAccount(user=user, client_id=CLIENT_ID)
        account.set_token(TOKEN)
        account.save()
        from django.utils import timezone

        from portfolio.models import PortfolioLine

        PortfolioLine.objects.create(
            account=account, kind="holding", key=TCS, symbol="TCS", quantity=2,
            avg_cost=Decimal("3000"), fetched_at=timezone.now(),
        )  # fmt: skip
        publish({TCS: 3001.0})
        client = Client()
        client.force_login(user)
        return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]

    headers = await setup()
    runtime = WebRuntime(hosts_connections=False)
    app = build_application(runtime)
    anonymous = WebsocketCommunicator(app, "/ws/dashboard/")
    assert (await anonymous.connect())[0]
    await anonymous.receive_json_from(5)
    await anonymous.send_json_to({"action": "subscribe_portfolio"})
    assert (await anonymous.receive_json_from(5))["type"] == "error"
    ws = WebsocketCommunicator(app, "/ws/dashboard/", headers=headers)
    assert (await ws.connect())[0]
    await ws.receive_json_from(5)
    await ws.send_json_to({"action": "subscribe_portfolio"})
    assert (await ws.receive_json_from(5)) == {"type": "ack", "action": "subscribe_portfolio"}
    first = await ws.receive_json_from(5)
    assert first["portfolio"]["totals"]["value"] == "6002.0"
    window = {"type": "ltp.window", "seq": 1, "ts": time.time(), "status": None}
    await runtime.live.fanout.deliver({**window, "prices": json.dumps({TCS: 3011.0})})
    moved = await ws.receive_json_from(5)
    assert moved["type"] == "portfolio_update"
    assert moved["portfolio"]["totals"]["value"] == "6022.0"  # 2 x 3011.0, exactly
    await runtime.live.fanout.deliver({**window, "seq": 2, "prices": json.dumps({RELIANCE: 1.0})})
    assert await ws.receive_nothing(0.3)  # not one of its lines: nothing to send
    for communicator in (anonymous, ws):
        await communicator.disconnect()
