"""A broker account's order socket is asked for by the code that links the account, not by a
model signal: linking on the page, in the admin or with `add_broker_account`, and
replacing a token, want `orders:<id>` (queued at once in the full stack); deleting the
account in the admin drops it. Saving or deleting an account any other way starts and
stops nothing."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.core.management import call_command

from accounts.models import BrokerAccount
from dhan.simulator import DhanSimulator, SimulatorConfig
from streams import supervision
from streams.keys import order_stream_key
from streams.kinds import ORDER_KIND
from streams.models import Stream

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_ID, TOKEN = "1100000001", "eyJhbGciOiJIUzUxMiJ9.alice-good-token.Zx81Qp0123"


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.MARKETSTREAM_ENCRYPTION_KEY = Fernet.generate_key().decode()
    settings.REDIS_URL = ""
    settings.DEV_MODE = True  # the order feed's hours are open


@pytest.fixture
def sim(settings):
    simulator = DhanSimulator(SimulatorConfig(port=0, rest_port=0, accounts={CLIENT_ID: TOKEN}))
    simulator.start()
    settings.DHANHQ_API_URL = f"http://127.0.0.1:{simulator.rest_port}/v2"
    yield simulator
    simulator.stop()


@pytest.fixture
def root(client) -> User:
    user = User.objects.create_superuser("root", "root@example.com", "pw-root")
    client.force_login(user)
    return user


def wanted() -> dict[str, str]:
    """The order streams and what is wanted of them."""
    rows = Stream.objects.filter(kind=ORDER_KIND)
    return dict(rows.values_list("key", "desired_state"))


def test_saving_or_deleting_an_account_directly_starts_and_stops_nothing(root):
    account = BrokerAccount(user=root, client_id=CLIENT_ID)
    account.set_token(TOKEN)
    account.save()  # no linking code ran: no signal wants a stream for it
    assert wanted() == {}
    key = order_stream_key(account.pk)
    Stream.objects.create(key=key, kind=ORDER_KIND)
    account.delete()
    assert wanted() == {key: "running"}  # nobody dropped it


@pytest.mark.e2e
def test_linking_in_the_full_stack_queues_the_order_socket_at_once(
    client, sim, settings, redis_url, monkeypatch
):
    settings.REDIS_URL = redis_url
    queued: list[str] = []
    monkeypatch.setattr(supervision, "enqueue_start", lambda key: queued.append(key) or True)
    client.force_login(User.objects.create_user("alice", password="pw-alice"))
    form = {"client_id": CLIENT_ID, "label": "", "access_token": TOKEN}
    assert client.post("/accounts/brokers/", form).status_code == 302
    key = order_stream_key(BrokerAccount.objects.get().pk)
    assert wanted() == {key: "running"} and queued == [key]


def test_the_admin_links_and_deletes_an_accounts_order_socket(client, root, sim):
    form = {"user": root.pk, "client_id": CLIENT_ID, "label": "", "access_token": TOKEN}
    assert client.post("/admin/accounts/brokeraccount/add/", form).status_code == 302
    account = BrokerAccount.objects.get()
    key = order_stream_key(account.pk)
    assert wanted() == {key: "running"}
    delete = f"/admin/accounts/brokeraccount/{account.pk}/delete/"
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert wanted() == {}


def test_the_admins_delete_selected_drops_each_accounts_order_socket(client, root, sim):
    accounts = []
    for client_id in ("1100000007", "1100000008"):
        account = BrokerAccount(user=root, client_id=client_id)
        account.set_token(TOKEN)
        account.save()
        accounts.append(account)
        Stream.objects.create(key=order_stream_key(account.pk), kind=ORDER_KIND)
    action = {
        "action": "delete_selected",
        "_selected_action": [a.pk for a in accounts],
        "post": "yes",
    }
    assert client.post("/admin/accounts/brokeraccount/", action).status_code == 302
    assert not BrokerAccount.objects.exists() and wanted() == {}


def test_a_replaced_token_wants_the_socket_an_expired_token_stopped(client, sim):
    alice = User.objects.create_user("alice", password="pw-alice")
    client.force_login(alice)
    account = BrokerAccount(user=alice, client_id=CLIENT_ID, status="token_expired")
    account.set_token("an-old-token-" + "x" * 30)
    account.status = BrokerAccount.Status.TOKEN_EXPIRED
    account.save()
    key = order_stream_key(account.pk)
    Stream.objects.create(key=key, kind=ORDER_KIND, desired_state="stopped", state="error")
    response = client.post(f"/accounts/brokers/{account.pk}/token", {"access_token": TOKEN})
    assert response.status_code == 302
    assert wanted() == {key: "running"}


def test_add_broker_account_wants_the_order_socket(root, sim, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(TOKEN + "\n"))
    call_command(
        "add_broker_account", "--user", "root", "--client-id", CLIENT_ID, stdout=io.StringIO()
    )
    assert wanted() == {order_stream_key(BrokerAccount.objects.get().pk): "running"}
