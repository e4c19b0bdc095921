"""Order updates without a socket: the tolerant parse, what each change means, storing
each change once whoever tells it, and who may see which orders (API, page, WebSocket)."""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator
from cryptography.fernet import Fernet
from django.contrib.auth.models import User

from accounts.models import BrokerAccount
from dhan.orders import (
    LoginRefused,
    OrderMessageError,
    alert_from_fields,
    alert_from_rest,
    classify,
    parse_message,
)
from orders.ingest import record, record_all
from orders.models import Order, OrderEvent
from orders.push import announce

# DhanHQ's documented sample, with its repeated Remarks key and title-case status.
SAMPLE = (
    '{"Type":"order_alert","Data":{"Exchange":"NSE","Segment":"E","Source":"P",'
    '"SecurityId":"14366","ClientId":"1100000001","OrderNo":"1124091136546",'
    '"Remarks":"NR","Product":"C","TxnType":"B","OrderType":"LMT","Price":13.25,'
    '"Quantity":100,"TradedQty":0,"Status":"Cancelled","Symbol":"IDEA",'
    '"LastUpdatedTime":"2024-09-11 10:29:23","Remarks":"Super Order","NewField":7}}'
)


def alert(order_no="1", status="PENDING", traded=0, qty=100, reason=""):
    return alert_from_fields(
        {
            "OrderNo": order_no,
            "Status": status,
            "TradedQty": traded,
            "Quantity": qty,
            "ReasonDescription": reason,
            "Symbol": "RELIANCE",
            "TxnType": "B",
        }
    )


def test_parse_is_tolerant_of_dhanhqs_quirks():
    parsed = parse_message(SAMPLE)
    assert parsed.status == "CANCELLED" and parsed.order_no == "1124091136546"
    assert parsed.data["Remarks"] == ["NR", "Super Order"]  # both values kept
    assert parsed.data["NewField"] == 7  # unknown fields kept
    assert parse_message('{"Type":"something_else"}') is None
    with pytest.raises(LoginRefused):
        parse_message('{"Type":"error","Data":{"ErrorCode":"807"}}')
    for junk in ("not json", "[1]", '{"Type":"order_alert","Data":{"Status":"X"}}'):
        with pytest.raises(OrderMessageError):
            parse_message(junk)


def test_each_change_is_classified():
    assert classify(None, alert(status="TRANSIT")) == ("new", 0)
    assert classify(alert(status="TRANSIT"), alert(status="PENDING")) == ("status_change", 0)
    assert classify(alert(), alert(status="PART_TRADED", traded=40)) == ("partial_fill", 40)
    assert classify(alert(status="PART_TRADED", traded=40), alert(status="TRADED", traded=100)) == (
        "traded",
        60,
    )
    assert classify(alert(), alert(status="Rejected", reason="margin")) == ("rejected", 0)
    assert classify(alert(), alert(status="expired")) == ("expired", 0)


@pytest.fixture
def accounts(settings, db):
    settings.MARKETSTREAM_ENCRYPTION_KEY = Fernet.generate_key().decode()
    out = []
    for name, client_id in (("alice", "1100000001"), ("bob", "1100000002")):
        user = User.objects.create_user(name, password=f"pw-{name}")
        account = BrokerAccount(user=user, client_id=client_id)
        account.set_token(f"{name}-token-" + "z" * 30)
        account.save()
        out.append(account)
    return out


def test_the_socket_and_rest_telling_the_same_change_make_one_event(accounts):
    alice = accounts[0]
    assert record(alice, alert(status="TRANSIT"), source="socket").kind == "new"
    assert record(alice, alert(status="TRANSIT"), source="socket") is None  # redelivered
    rest_row = {"orderId": "1", "orderStatus": "PART_TRADED", "filledQty": 30, "quantity": 100}
    assert record(alice, alert_from_rest(rest_row), source="rest").filled_qty == 30
    assert record(alice, alert(status="PART_TRADED", traded=30), source="socket") is None
    assert record(alice, alert(status="PENDING"), source="socket") is None  # stale
    events = record_all(alice, [alert(status="TRADED", traded=100)], source="socket")
    assert [(e.kind, e.filled_qty) for e in events] == [("traded", 70)]
    assert record(alice, alert(status="PART_TRADED", traded=30), source="rest") is None
    order = Order.objects.get()
    assert (order.status, order.traded_qty) == ("TRADED", 100)
    assert list(OrderEvent.objects.values_list("kind", flat=True)) == [
        "new",
        "partial_fill",
        "traded",
    ]


def test_the_api_and_page_show_only_ones_own_orders(client, accounts):
    alice, bob = accounts
    record(alice, alert(order_no="A-1"), source="socket")
    record(bob, alert(order_no="B-1"), source="socket")
    response = client.get("/api/v1/orders")
    assert response.status_code == 401 and response.json()["error"]
    assert client.get("/orders/").status_code == 302  # to the login page
    client.force_login(bob.user)
    assert [o["order_no"] for o in client.get("/api/v1/orders").json()["orders"]] == ["B-1"]
    page = client.get("/orders/").content.decode()
    assert "B-1" in page and "A-1" not in page


def session_headers(user) -> list[tuple[bytes, bytes]]:
    from django.test import Client

    client = Client()  # one per user: logging another user in flushes the last session
    client.force_login(user)
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


async def connect(headers=()):
    from marketstream.asgi import build_application
    from marketstream.runtime import WebRuntime

    app = build_application(WebRuntime(hosts_connections=False))
    communicator = WebsocketCommunicator(app, "/ws/dashboard/", headers=list(headers))
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from(5))["type"] == "status"
    return communicator


@pytest.mark.django_db(transaction=True)
async def test_order_updates_reach_only_their_owner_once(settings):
    from asgiref.sync import sync_to_async

    settings.MARKETSTREAM_ENCRYPTION_KEY = Fernet.generate_key().decode()

    @sync_to_async
    def setup():
        made = []
        for name, client_id in (("alice", "1100000001"), ("bob", "1100000002")):
            user = User.objects.create_user(name, password="pw")
            account = BrokerAccount(user=user, client_id=client_id)
            account.set_token(f"{name}-token-" + "z" * 30)
            account.save()
            made.append((account, session_headers(user)))
        record(made[0][0], alert(order_no="A-0"), source="socket")
        return made

    (alice, alice_headers), (_, bob_headers) = await setup()
    anonymous = await connect()
    await anonymous.send_json_to({"action": "subscribe_orders"})
    assert (await anonymous.receive_json_from(5)) == {
        "type": "error",
        "error": "sign in to get order updates",
    }
    sockets = {"alice": await connect(alice_headers), "bob": await connect(bob_headers)}
    for name, ws in sockets.items():
        await ws.send_json_to({"action": "subscribe_orders"})
        expected = ["A-0"] if name == "alice" else []
        ack = {"type": "ack", "action": "subscribe_orders", "count": len(expected)}
        assert (await ws.receive_json_from(5)) == ack
        snapshot = await ws.receive_json_from(5)
        assert [o["order_no"] for o in snapshot["orders"]] == expected

    @sync_to_async
    def trade():
        announce(
            record_all(alice, [alert(order_no="A-0", status="TRADED", traded=100)], source="socket")
        )

    await trade()
    update = await sockets["alice"].receive_json_from(5)
    assert update["type"] == "order_update" and update["event"] == "traded"
    assert update["order"]["order_no"] == "A-0" and update["filled_qty"] == 100
    assert "token" not in json.dumps(update)
    assert await sockets["alice"].receive_nothing(0.5)  # once
    assert await sockets["bob"].receive_nothing(0.5)  # never another user's
    for ws in (anonymous, *sockets.values()):
        await ws.disconnect()
