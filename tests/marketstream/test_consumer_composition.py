"""`/ws/dashboard/` composed from feature objects: the route's consumer is the prices
consumer with the orders, alerts and portfolio features; each of a user's sockets gets
each of the user's events once; the portfolio follows its user's fills (and no one
else's) without asking for orders; nothing a feature starts outlives the socket."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from accounts.models import BrokerAccount
from alerts.consumers import AlertsFeature
from gateway.wsauth import session_user_stack
from marketstream.consumers import DashboardConsumer
from orders.consumers import OrdersFeature
from portfolio.consumers import PortfolioFeature
from portfolio.models import PortfolioLine
from prices.cache import Batch, LocalPriceStore
from prices.composition import ComposedConsumer
from prices.consumers import PricesConsumer
from prices.live import LivePricesMiddleware
from prices.userpush import push_to_user
from screeners.consumers import ScreensFeature

pytestmark = pytest.mark.django_db(transaction=True)
TCS = "NSE_EQ:11536"
AFTER_TRADE_SECONDS = 0.3  # the test portfolio's re-read after a fill (3 s in the app)


class QuickPortfolio(PortfolioFeature):
    __slots__ = ()
    after_trade_seconds = AFTER_TRADE_SECONDS


class QuickDashboard(ComposedConsumer):
    features = (OrdersFeature, AlertsFeature, QuickPortfolio)


def traded(order_no: str) -> dict:
    return {"type": "order_update", "event": "traded", "order": {"order_no": order_no}}


@pytest.fixture(autouse=True)
def encryption_key(settings):
    settings.MARKETSTREAM_ENCRYPTION_KEY = Fernet.generate_key().decode()


@sync_to_async
def signed_in(name: str, *, tcs_quantity: int = 2) -> tuple[int, list[tuple[bytes, bytes]]]:
    """A user holding `tcs_quantity` TCS through a broker account, and a session cookie."""
    user = User.objects.create_user(name, password="pw")
    account = BrokerAccount(user=user, client_id=f"11000{user.pk:05d}")
    account.set_token(f"{name}-token-" + "z" * 30)
    account.save()
    PortfolioLine.objects.create(
        account=account, kind="holding", key=TCS, symbol="TCS", quantity=tcs_quantity,
        avg_cost=Decimal("3000"), fetched_at=timezone.now(),
    )  # fmt: skip
    LocalPriceStore().write(Batch(prices={TCS: 3001.0}, message="{}"), ttl_seconds=30)
    client = Client()
    client.force_login(user)
    return user.pk, [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


@pytest.fixture
def app(live):
    def make(consumer=QuickDashboard):
        return LivePricesMiddleware(session_user_stack(consumer.as_asgi()), live)

    return make


async def connect(app, headers) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(app, "/ws/dashboard/", headers=headers)
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from(5))["type"] == "status"
    return ws


async def subscribe_portfolio(ws: WebsocketCommunicator) -> str:
    await ws.send_json_to({"action": "subscribe_portfolio"})
    assert await ws.receive_json_from(5) == {"type": "ack", "action": "subscribe_portfolio"}
    return (await ws.receive_json_from(5))["portfolio"]["totals"]["value"]


async def push(user_id: int, *, kind: str, message: dict) -> None:
    await sync_to_async(push_to_user)(user_id, kind=kind, message=message)


def feature_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("dashboard:")]


def test_the_routes_consumer_is_the_prices_consumer_with_orders_alerts_portfolio_and_screens():
    assert issubclass(DashboardConsumer, PricesConsumer)
    features = (OrdersFeature, AlertsFeature, PortfolioFeature, ScreensFeature)
    assert DashboardConsumer.features == features
    assert DashboardConsumer.routes.actions == {
        "subscribe_orders": 0,
        "unsubscribe_orders": 0,
        "subscribe_portfolio": 2,
    }
    # The portfolio takes the user's order events itself: it does not hook the orders'.
    kinds = {"order": (0, 2), "alert": (1,), "portfolio": (2,), "screen": (3,)}
    assert DashboardConsumer.routes.kinds == kinds


async def test_each_socket_of_a_user_gets_each_of_the_users_events_once(app):
    alice, alice_headers = await signed_in("alice")
    _, bob_headers = await signed_in("bob")
    tabs = [await connect(app(DashboardConsumer), alice_headers) for _ in range(2)]
    bob = await connect(app(DashboardConsumer), bob_headers)
    for ws in (*tabs, bob):
        await ws.send_json_to({"action": "subscribe_orders"})
        assert (await ws.receive_json_from(5))["type"] == "ack"
        assert (await ws.receive_json_from(5))["type"] == "orders_snapshot"
    await push(alice, kind="order", message=traded("A-1"))
    await push(alice, kind="alert", message={"type": "alert_triggered", "event": {"key": TCS}})
    for ws in tabs:
        assert (await ws.receive_json_from(5))["order"]["order_no"] == "A-1"
        assert (await ws.receive_json_from(5))["type"] == "alert_triggered"
        assert await ws.receive_nothing(0.2)  # once
    assert await bob.receive_nothing(0.2)  # never another user's
    await tabs[1].send_json_to({"action": "unsubscribe_orders"})
    assert await tabs[1].receive_json_from(5) == {"type": "ack", "action": "unsubscribe_orders"}
    await push(alice, kind="order", message=traded("A-2"))
    assert (await tabs[0].receive_json_from(5))["order"]["order_no"] == "A-2"
    assert await tabs[1].receive_nothing(0.2)
    for ws in (*tabs, bob):
        await ws.disconnect()


async def test_a_fill_re_reads_the_portfolio_without_subscribing_to_orders(app):
    alice, headers = await signed_in("alice")
    ws = await connect(app(), headers)
    assert await subscribe_portfolio(ws) == "6002.0"  # 2 x 3001.0
    await sync_to_async(PortfolioLine.objects.update)(quantity=3)  # the refresh task's work
    await push(alice, kind="order", message=traded("A-1"))
    update = await ws.receive_json_from(5)
    assert update["type"] == "portfolio_update"
    assert update["portfolio"]["totals"]["value"] == "9003.0"
    await ws.disconnect()


async def test_another_users_fill_leaves_ones_portfolio_alone(app):
    _, alice_headers = await signed_in("alice")
    bob, bob_headers = await signed_in("bob")
    alice_ws, bob_ws = await connect(app(), alice_headers), await connect(app(), bob_headers)
    for ws in (alice_ws, bob_ws):
        await subscribe_portfolio(ws)
    await bob_ws.send_json_to({"action": "subscribe_orders"})
    for _ in range(2):  # ack, snapshot
        await bob_ws.receive_json_from(5)
    await push(bob, kind="order", message=traded("B-1"))
    assert (await bob_ws.receive_json_from(5))["type"] == "order_update"
    assert (await bob_ws.receive_json_from(5))["type"] == "portfolio_update"  # his, re-read
    assert await alice_ws.receive_nothing(AFTER_TRADE_SECONDS + 0.3)
    for ws in (alice_ws, bob_ws):
        await ws.disconnect()


async def test_no_task_a_feature_started_outlives_the_disconnect(app):
    alice, headers = await signed_in("alice")
    ws = await connect(app(), headers)
    await subscribe_portfolio(ws)
    await push(alice, kind="order", message=traded("A-1"))
    async with asyncio.timeout(5):  # the portfolio's re-read after the fill, waiting
        while not feature_tasks():
            await asyncio.sleep(0.01)
    pending = feature_tasks()
    await ws.disconnect()
    assert all(task.done() for task in pending)
    assert feature_tasks() == []
    assert await ws.receive_nothing(AFTER_TRADE_SECONDS + 0.3)  # nothing sent after the end


async def test_an_anonymous_socket_is_told_to_sign_in_for_each_feature(app):
    ws = await connect(app(DashboardConsumer), [])
    for action, error in (
        ("subscribe_orders", "sign in to get order updates"),
        ("subscribe_portfolio", "sign in to get your portfolio"),
    ):
        await ws.send_json_to({"action": action})
        assert await ws.receive_json_from(5) == {"type": "error", "error": error}
    await ws.send_json_to({"action": "subscribe", "keys": [TCS]})
    assert await ws.receive_json_from(5) == {"type": "ack", "action": "subscribe", "count": 1}
    await ws.disconnect()
