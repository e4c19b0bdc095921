"""A broker token is checked with DhanHQ (the simulator's `GET /v2/profile`) before anything
is stored, on the link form, when a token is replaced, in the admin and in
`manage.py add_broker_account`: a refused token saves nothing (so no order socket is ever
wanted for it) and says so plainly without echoing it; DhanHQ out of reach saves nothing;
the sixth refusal within the period is refused without a REST call."""

from __future__ import annotations

import io
import logging

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from accounts.models import BrokerAccount
from dhan.simulator import DhanSimulator, SimulatorConfig
from streams.kinds import ORDER_KIND
from streams.models import Stream
from tests.support.processes import NOWHERE_API_URL

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_ID = "1100000001"
TOKEN = "eyJhbGciOiJIUzUxMiJ9.alice-good-token.Zx81Qp0123"
OTHER_CLIENT_ID, OTHER_TOKEN = "1100000002", "eyJhbGciOiJIUzUxMiJ9.bob-good-token.Yw72Rq3210"
GUESS = "eyJhbGciOiJIUzUxMiJ9.a-guessed-token.Gg00Gg0000"
REFUSED = f"DhanHQ refused this token for client {CLIENT_ID}: check it and try again."


@pytest.fixture(autouse=True)
def key(settings):
    settings.MARKETSTREAM_ENCRYPTION_KEY = Fernet.generate_key().decode()
    settings.BROKER_LINK_FAILURE_RATE = "5/h"


@pytest.fixture
def sim(settings):
    accounts = {CLIENT_ID: TOKEN, OTHER_CLIENT_ID: OTHER_TOKEN}
    simulator = DhanSimulator(SimulatorConfig(port=0, rest_port=0, accounts=accounts)).start()
    settings.DHANHQ_API_URL = f"http://127.0.0.1:{simulator.rest_port}/v2"
    yield simulator
    simulator.stop()


@pytest.fixture
def alice(client):
    user = User.objects.create_user("alice", password="pw-alice")
    client.force_login(user)
    return user


def link(client, client_id: str = CLIENT_ID, token: str = TOKEN):
    return client.post(
        "/accounts/brokers/", {"client_id": client_id, "label": "", "access_token": token}
    )


def order_streams() -> int:
    return Stream.objects.filter(kind=ORDER_KIND).count()


def test_a_good_token_links_as_before(client, alice, sim):
    response = link(client)
    assert response.status_code == 302
    account = BrokerAccount.objects.get(user=alice)
    assert account.client_id == CLIENT_ID and account.token == TOKEN
    assert sim.rest_calls == 1  # one profile call, before the save
    assert order_streams() == 1  # linking wants its order socket, as before
    page = client.get("/accounts/brokers/").content.decode()
    assert f"Linked DhanHQ account {CLIENT_ID}" in page and TOKEN not in page


def test_a_token_dhanhq_refuses_saves_nothing_and_says_so_plainly(client, alice, sim, caplog):
    caplog.set_level(logging.DEBUG)
    response = link(client, token=GUESS)
    assert response.status_code == 200
    page = response.content.decode()
    assert REFUSED in page
    assert GUESS not in page and GUESS not in caplog.text
    assert not BrokerAccount.objects.exists() and order_streams() == 0
    assert sim.rest_calls == 1


def test_another_clients_good_token_is_refused(client, alice, sim):
    response = link(client, client_id=CLIENT_ID, token=OTHER_TOKEN)
    assert REFUSED in response.content.decode()
    assert not BrokerAccount.objects.exists()


def test_the_sixth_refused_link_within_the_hour_is_refused_without_a_rest_call(client, alice, sim):
    for n in range(5):  # guessing tokens for any client id
        page = link(client, client_id=f"11000000{n + 10}", token=f"{GUESS}{n}").content.decode()
        assert "DhanHQ refused this token" in page
    assert sim.rest_calls == 5
    page = link(client).content.decode()  # even the right token, now
    assert "Too many refused tokens: try again in" in page
    assert sim.rest_calls == 5 and not BrokerAccount.objects.exists()
    # per user: another user links at once
    bob = User.objects.create_user("bob", password="pw-bob")
    client.force_login(bob)
    assert link(client, client_id=OTHER_CLIENT_ID, token=OTHER_TOKEN).status_code == 302
    assert BrokerAccount.objects.get().user == bob


def test_dhanhq_out_of_reach_saves_nothing_and_is_not_counted(client, alice, sim, settings):
    settings.DHANHQ_API_URL = NOWHERE_API_URL
    for n in range(6):
        page = link(client, client_id=f"11000000{n + 20}", token=TOKEN).content.decode()
        assert "DhanHQ could not be reached to check the token: nothing was saved" in page
    assert not BrokerAccount.objects.exists() and order_streams() == 0
    settings.DHANHQ_API_URL = f"http://127.0.0.1:{sim.rest_port}/v2"
    assert link(client).status_code == 302  # no refusal was counted against alice


def test_a_client_id_linked_already_is_refused_before_dhanhq_is_asked(client, alice, sim):
    assert link(client).status_code == 302
    page = link(client).content.decode()
    assert "this client id is linked already" in page and sim.rest_calls == 1


def test_replacing_a_token_checks_the_new_one_first(client, alice, sim):
    link(client)
    account = BrokerAccount.objects.get()
    response = client.post(
        f"/accounts/brokers/{account.pk}/token", {"access_token": GUESS}, follow=True
    )
    assert REFUSED in response.content.decode() and GUESS not in response.content.decode()
    assert BrokerAccount.objects.get().token == TOKEN  # kept
    sim.set_token(CLIENT_ID, "eyJ.a-new-day.NewNewNew9")  # DhanHQ issued a new one
    response = client.post(
        f"/accounts/brokers/{account.pk}/token", {"access_token": "eyJ.a-new-day.NewNewNew9"}
    )
    assert response.status_code == 302
    assert BrokerAccount.objects.get().token == "eyJ.a-new-day.NewNewNew9"


def test_the_admin_checks_a_typed_token_too(client, sim):
    root = User.objects.create_superuser("root", "root@example.com", "pw-root")
    client.force_login(root)
    form = {"user": root.pk, "client_id": CLIENT_ID, "label": "", "access_token": GUESS}
    page = client.post("/admin/accounts/brokeraccount/add/", form).content.decode()
    assert REFUSED in page and GUESS not in page
    assert not BrokerAccount.objects.exists()
    form["access_token"] = TOKEN
    assert client.post("/admin/accounts/brokeraccount/add/", form).status_code == 302
    assert BrokerAccount.objects.get().token == TOKEN


def add_broker_account(monkeypatch, token: str, client_id: str = CLIENT_ID) -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    out = io.StringIO()
    call_command("add_broker_account", "--user", "alice", "--client-id", client_id, stdout=out)
    return out.getvalue()


def test_add_broker_account_checks_the_token_first(alice, sim, monkeypatch):
    with pytest.raises(CommandError) as refused:
        add_broker_account(monkeypatch, GUESS)
    assert str(refused.value) == REFUSED and GUESS not in str(refused.value)
    assert not BrokerAccount.objects.exists()
    assert f"linked {CLIENT_ID}" in add_broker_account(monkeypatch, TOKEN)
    assert BrokerAccount.objects.get().token == TOKEN


def test_add_broker_account_saves_nothing_when_dhanhq_is_out_of_reach(alice, monkeypatch, settings):
    settings.DHANHQ_API_URL = NOWHERE_API_URL
    with pytest.raises(CommandError, match="DhanHQ could not be reached"):
        add_broker_account(monkeypatch, TOKEN)
    assert not BrokerAccount.objects.exists()
