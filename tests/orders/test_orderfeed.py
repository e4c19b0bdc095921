"""The order socket's kind, as the orders app gives it to the stream layer: a fill calls the
`on_fill` the project's runtime injects (a portfolio refresh), other events do not; an
account deleted under a running socket ends it and drops its row; a start for an account
that is gone is refused and its row dropped, so supervision stops asking."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User

from accounts.models import BrokerAccount
from orders.orderfeed import ACCOUNT_CHECK_SECONDS, order_updates_factory
from streams.keys import order_stream_key
from streams.kinds import ORDER_KIND, StartRefused
from streams.models import Stream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def account(settings) -> BrokerAccount:
    settings.MARKETSTREAM_ENCRYPTION_KEY = Fernet.generate_key().decode()
    settings.REDIS_URL = ""
    user = User.objects.create_user("alice", password="pw-alice")
    account = BrokerAccount(user=user, client_id="1100000001")
    account.set_token("alice-token-" + "z" * 30)
    account.save()
    return account


def order_row(account: BrokerAccount) -> Stream:
    return Stream.objects.create(key=order_stream_key(account.pk), kind=ORDER_KIND, mode="orders")


def frame(status: str, traded: int) -> str:
    data = {"OrderNo": "A-1", "Status": status, "TradedQty": traded, "Quantity": 100}
    return json.dumps({"Type": "order_alert", "Data": {**data, "Symbol": "RELIANCE"}})


def test_a_fill_calls_the_injected_on_fill_with_the_account_and_nothing_else_does(account):
    fills: list[int] = []
    kind = order_updates_factory(on_fill=fills.append).build(order_row(account))
    kind.take(frame("PENDING", 0))
    assert kind.collect()
    kind.flush()
    assert fills == []  # a new order changes no holding
    kind.take(frame("PART_TRADED", 40))
    kind.take(frame("TRADED", 100))
    kind.collect()
    kind.flush()
    assert fills == [account.pk]  # one refresh for the flush that carried the fills


def test_an_account_deleted_under_its_socket_ends_it_and_drops_its_row(account):
    now = [1000.0]  # the bookkeeper's clock, moved by hand
    row = order_row(account)
    factory = order_updates_factory(on_fill=lambda account_id: None, clock=lambda: now[0])
    kind = factory.build(row)
    assert kind.control() is None  # the account is there
    account.delete()
    now[0] += ACCOUNT_CHECK_SECONDS / 2
    assert kind.control() is None  # not looked at again yet
    now[0] += ACCOUNT_CHECK_SECONDS
    assert kind.control() == "account deleted"
    assert not Stream.objects.filter(key=row.key).exists()


def test_a_start_for_an_account_that_is_gone_is_refused_and_its_row_dropped(account):
    row = order_row(account)
    account.delete()
    with pytest.raises(StartRefused, match="no broker account"):
        order_updates_factory(on_fill=lambda account_id: None).build(row)
    assert not Stream.objects.filter(key=row.key).exists()
