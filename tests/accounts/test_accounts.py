"""Users and broker accounts: tokens encrypted at rest and never shown, the command that
takes a token without putting it on the command line, login pages, key rotation, and a
WebSocket that refuses another site's pages."""

from __future__ import annotations

import io
import sqlite3

import pytest
from channels.testing import WebsocketCommunicator
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import BrokerAccount

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "eyJhbGciOiJIUzUxMiJ9.secret-token-for-tests.AbCdEfGh1234"


@pytest.fixture(autouse=True)
def key(settings):
    settings.MARKETSTREAM_ENCRYPTION_KEY = Fernet.generate_key().decode()
    return settings.MARKETSTREAM_ENCRYPTION_KEY


@pytest.fixture
def alice():
    return User.objects.create_user("alice", password="pw-alice")


def link(user, client_id="1100000001", token=TOKEN) -> BrokerAccount:
    account = BrokerAccount(user=user, client_id=client_id)
    account.set_token(token)
    account.save()
    return account


def every_stored_text() -> str:
    """Every value of every table, as text (what a database dump would show)."""
    db = sqlite3.connect(connection.settings_dict["NAME"])
    out = []
    for (table,) in db.execute("select name from sqlite_master where type='table'"):
        for row in db.execute(f'select * from "{table}"'):  # noqa: S608 - table names from sqlite
            out.append(repr(row))
    return "\n".join(out)


def test_tokens_are_encrypted_at_rest_and_shown_masked(alice):
    account = link(alice)
    assert BrokerAccount.objects.get().token == TOKEN
    assert TOKEN not in every_stored_text()
    assert TOKEN[-4:] == "1234" and account.masked_token.endswith("1234")
    assert TOKEN not in account.masked_token and len(account.masked_token) < 16


@pytest.fixture
def dhanhq_knows_the_token(settings):
    """The simulator as DhanHQ, holding TOKEN for 1100000002 (the command checks it)."""
    from dhan.simulator import DhanSimulator, SimulatorConfig

    accounts = {"1100000002": TOKEN}
    sim = DhanSimulator(SimulatorConfig(port=0, rest_port=0, accounts=accounts)).start()
    settings.DHANHQ_API_URL = f"http://127.0.0.1:{sim.rest_port}/v2"
    yield sim
    sim.stop()


def test_add_broker_account_reads_the_token_from_stdin_never_an_argument(
    alice, monkeypatch, dhanhq_knows_the_token
):
    monkeypatch.setattr("sys.stdin", io.StringIO(TOKEN + "\n"))
    out = io.StringIO()
    call_command("add_broker_account", "--user", "alice", "--client-id", "1100000002", stdout=out)
    assert "linked 1100000002" in out.getvalue() and TOKEN not in out.getvalue()
    assert BrokerAccount.objects.get(client_id="1100000002").token == TOKEN
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.delenv("DHANHQ_ACCESS_TOKEN", raising=False)
    with pytest.raises(CommandError, match="no token"):
        call_command("add_broker_account", "--user", "alice", "--client-id", "1100000003")
    with pytest.raises(CommandError):  # there is no way to pass it as an argument
        call_command("add_broker_account", "--user", "alice", "--client-id", "1", "--token", "x")


def test_rotating_the_key_keeps_every_token_readable(alice, settings, key):
    link(alice)
    new = Fernet.generate_key().decode()
    settings.MARKETSTREAM_ENCRYPTION_KEY = f"{new},{key}"
    call_command("rotate_encryption_key", stdout=io.StringIO())
    settings.MARKETSTREAM_ENCRYPTION_KEY = new  # the old key dropped
    assert BrokerAccount.objects.get().token == TOKEN


def test_broker_accounts_page_needs_a_login_and_shows_only_ones_own(client, alice):
    link(alice)
    bob = User.objects.create_user("bob", password="pw-bob")
    link(bob, client_id="1100000009", token="bobs-token-" + "x" * 30)
    assert client.get("/accounts/brokers/").status_code == 302  # to the login page
    client.force_login(bob)
    page = client.get("/accounts/brokers/").content.decode()
    assert "1100000009" in page and "1100000001" not in page
    assert "bobs-token" not in page and TOKEN not in page
    alices = BrokerAccount.objects.get(user=alice)
    response = client.post(f"/accounts/brokers/{alices.pk}/token", {"access_token": "stolen"})
    assert response.status_code == 404
    assert BrokerAccount.objects.get(user=alice).token == TOKEN


def test_the_admin_never_shows_a_token(client, alice):
    link(alice)
    admin = User.objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(admin)
    account = BrokerAccount.objects.get()
    for url in (
        "/admin/accounts/brokeraccount/",
        f"/admin/accounts/brokeraccount/{account.pk}/change/",
    ):
        body = client.get(url).content.decode()
        assert "1100000001" in body
        assert TOKEN not in body and account.token_encrypted not in body


def test_login_and_logout_pages(client, alice):
    assert "Sign in" in client.get("/accounts/login/").content.decode()
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302
    assert "alice" in client.get("/accounts/brokers/").content.decode()
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/accounts/brokers/").status_code == 302


def test_login_required_mode_closes_pages_and_api_to_anonymous_users(client, settings, alice):
    settings.MARKETSTREAM_LOGIN_REQUIRED = True
    response = client.get("/screeners/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client.get("/api/v1/current_prices?keys=NSE_EQ:2885")
    assert response.status_code == 401 and response.json() == {"error": "authentication required"}
    assert client.get("/api/v1/health/market_stream").status_code == 200
    client.force_login(alice)
    assert client.get("/screeners/").status_code == 200


async def handshake(origin: str | None) -> bool:
    from marketstream.asgi import build_application
    from marketstream.runtime import WebRuntime

    app = build_application(WebRuntime(hosts_connections=False))
    headers = [(b"host", b"marketstream.example.com")]  # the site the page came from
    headers += [(b"origin", origin.encode())] if origin else []
    communicator = WebsocketCommunicator(app, "/ws/dashboard/", headers=headers)
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


async def test_a_websocket_from_another_sites_page_is_refused(settings):
    settings.ALLOWED_HOSTS = ["marketstream.example.com"]
    assert not await handshake("https://evil.example.net")
    assert await handshake("http://marketstream.example.com")  # ws://: the page is http
    assert await handshake(None)  # not a browser: no visitor's cookie to abuse
