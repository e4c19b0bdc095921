"""Order updates end to end with real processes (redis-server, a Celery worker, two daphne
processes, the simulator as DhanHQ): two users, two broker accounts, orders placed through
the official SDK reach only their owner, each event once; the order socket away for 20 s
loses nothing; an expired token stops the retries; no token anywhere it must not be."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import urllib.request
from collections import Counter

import pytest
import websockets
from cryptography.fernet import Fernet
from dhanhq import DhanContext, dhanhq

from dhan.simulator import DhanSimulator, SimulatorConfig
from tests.support.processes import free_port, manage, run_manage
from tests.support.stack import Stack
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.e2e

ACCOUNTS = {  # user -> (client id, access token)
    "alice": ("1100000001", "alice-token-Zx81.Qp-0123456789abcdef"),
    "bob": ("1100000002", "bob-token-Yw72.Rq-fedcba9876543210"),
}
TOKENS = [token for _, token in ACCOUNTS.values()]
# Waits poll in a thread (HTTP), this far apart: two API reads a poll stay under the
# per-user rate limit (600 a minute).
POLL_SECONDS = 0.2


def sdk(sim: DhanSimulator, user: str) -> dhanhq:
    client_id, token = ACCOUNTS[user]
    context = DhanContext(client_id, token)
    context.get_dhan_http().base_url = f"http://127.0.0.1:{sim.rest_port}/v2"
    return dhanhq(context)


def place(sim: DhanSimulator, user: str, quantity: int = 10) -> str:
    answer = sdk(sim, user).place_order(
        security_id="2885",
        exchange_segment="NSE_EQ",
        transaction_type="BUY",
        quantity=quantity,
        order_type="MARKET",
        product_type="CNC",
        price=0,
    )
    assert answer["status"] == "success", answer
    return str(answer["data"]["orderId"])


SESSION_SCRIPT = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
user = User.objects.get(username="{name}")
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(session.session_key)
"""


class OrderStack(Stack):
    """The deployment: the simulator in this process, the rest as real processes; two
    users, each with a broker account and a signed-in session."""

    def __init__(self, tmp_path, redis_url: str) -> None:
        accounts = dict(ACCOUNTS.values())
        super().__init__(
            tmp_path,
            sim=DhanSimulator(
                SimulatorConfig(port=free_port(), rest_port=0, accounts=accounts, seed=3)
            ).start(),
            redis_url=redis_url,
            rest=True,
            database="orders.sqlite3",
            DHANHQ_RECONNECT_MAX_DELAY_SECONDS="2",
            MARKETSTREAM_ENCRYPTION_KEY=Fernet.generate_key().decode(),
            LOG_LEVEL="DEBUG",
        )
        self.logs: list[str] = []
        self.sessions: dict[str, str] = {}

    def deploy(self) -> None:
        self.manage("migrate", "--noinput")
        for name in ACCOUNTS:
            self.create_user(name, f"pw-{name}")
            self.sessions[name] = self.session(name)
        self.worker()
        self.daphnes(2)
        for name, (client_id, token) in ACCOUNTS.items():  # the token on stdin, not argv
            done = run_manage(
                *("add_broker_account", "--user", name, "--client-id", client_id),
                env=self.env,
                stdin=token + "\n",
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            self.logs.append(done.stdout + done.stderr)

    def session(self, name: str) -> str:
        """A signed-in session's key for user `name` (the shell's last line of output)."""
        out = manage("shell", "-c", SESSION_SCRIPT.format(name=name), env=self.env)
        return out.strip().splitlines()[-1]

    def get(self, path: str, *, user: str | None = None, port: int | None = None):
        request = urllib.request.Request(f"http://127.0.0.1:{port or self.ports[0]}{path}")
        if user:
            request.add_header("Cookie", f"sessionid={self.sessions[user]}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def all_logs(self) -> str:
        """What the commands and every process printed."""
        return "\n".join([*self.logs, *(p.output() for p in self.processes)])


@pytest.fixture
def stack(tmp_path, redis_url):
    with OrderStack(tmp_path, redis_url) as built:
        built.deploy()
        yield built


class Browser:
    """One signed-in tab on one web process, listening to its user's orders."""

    def __init__(self, stack: OrderStack, user: str, port: int) -> None:
        self.stack, self.user, self.port = stack, user, port
        self.updates: list[dict] = []
        self.messages: list[dict] = []
        self.snapshot: list[dict] | None = None

    async def run(self, stop: asyncio.Event, ready: asyncio.Event) -> None:
        headers = {"Cookie": f"sessionid={self.stack.sessions[self.user]}"}
        url = f"ws://127.0.0.1:{self.port}/ws/dashboard/"
        async with websockets.connect(url, additional_headers=headers) as ws:
            await ws.send(json.dumps({"action": "subscribe_orders"}))
            while not stop.is_set():
                try:
                    async with asyncio.timeout(0.2):
                        message = json.loads(await ws.recv())
                except TimeoutError:
                    continue
                self.messages.append(message)
                if message["type"] == "orders_snapshot":
                    self.snapshot = message["orders"]
                    ready.set()
                elif message["type"] == "order_update":
                    self.updates.append(message)

    def order_nos(self) -> set[str]:
        return {u["order"]["order_no"] for u in self.updates}


async def browsers(
    stack: OrderStack, stop: asyncio.Event
) -> tuple[list[Browser], list[asyncio.Task]]:
    web1, web2 = stack.ports
    tabs = [
        Browser(stack, "alice", web1),
        Browser(stack, "alice", web2),  # the same user on the other process
        Browser(stack, "bob", web2),
    ]
    ready = [asyncio.Event() for _ in tabs]
    tasks = [asyncio.create_task(t.run(stop, r)) for t, r in zip(tabs, ready, strict=True)]
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 15)
    except TimeoutError:
        failed = [t.exception() for t in tasks if t.done()]
        raise AssertionError(f"no snapshot: {[t.messages for t in tabs]} {failed}") from None
    return tabs, tasks


def final_statuses(stack: OrderStack, user: str) -> dict[str, str]:
    status, body = stack.get("/api/v1/orders", user=user)
    assert status == 200
    return {o["order_no"]: o["status"] for o in json.loads(body)["orders"]}


async def test_orders_reach_only_their_owner_each_event_once(stack):
    await wait_until_async(
        lambda: stack.sim.order_socket_count == 2,
        timeout=30,
        what="2 order sockets",
        interval=POLL_SECONDS,
        in_thread=True,
    )
    stop = asyncio.Event()
    tabs, tasks = await browsers(stack, stop)
    alice_orders = {place(stack.sim, "alice"), place(stack.sim, "alice", quantity=2000)}
    bob_orders = {place(stack.sim, "bob")}
    await wait_until_async(
        lambda: (
            set(final_statuses(stack, "alice").values()) == {"TRADED"}
            and len(final_statuses(stack, "alice")) == 2
        ),
        timeout=30,
        what="alice's orders traded",
        interval=POLL_SECONDS,
        in_thread=True,
    )
    await wait_until_async(
        lambda: all(t.updates for t in tabs),
        timeout=10,
        what="updates",
        interval=POLL_SECONDS,
        in_thread=True,
    )
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*tasks)
    alice1, alice2, bob = tabs
    for tab in (alice1, alice2):
        assert tab.order_nos() == alice_orders  # hers, all of them, nobody else's
        assert max(Counter(u["event_id"] for u in tab.updates).values()) == 1  # each once
        assert [u["event"] for u in tab.updates].count("traded") == 2
        assert "partial_fill" in [u["event"] for u in tab.updates]  # the 2,000 lot
    assert [u["event_id"] for u in alice1.updates] == [u["event_id"] for u in alice2.updates]
    assert bob.order_nos() == bob_orders
    # Bob asks for Alice's orders every way there is.
    assert set(final_statuses(stack, "bob")) == bob_orders
    status, page = stack.get("/orders/", user="bob")
    assert status == 200 and not any(order in page for order in alice_orders)
    status, body = stack.get("/api/v1/orders")
    assert status == 401 and json.loads(body)["error"]

    # A page of another site cannot open the socket (Origin checked at the handshake).
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(
            f"ws://127.0.0.1:{stack.ports[0]}/ws/dashboard/",
            origin="http://evil.example.net",
            additional_headers={"Cookie": f"sessionid={stack.sessions['alice']}"},
        ):
            pass
    assert refused.value.response.status_code == 403

    # No token in a log line, a database column, an admin page or an API response.
    make_root = "from django.contrib.auth.models import User; " + (
        "User.objects.create_superuser('root', 'r@example.com', 'pw')"
    )
    manage("shell", "-c", make_root, env=stack.env)
    stack.sessions["root"] = stack.session("root")
    seen = [stack.all_logs()]
    for path in ("/admin/accounts/brokeraccount/", "/admin/accounts/brokeraccount/1/change/",
                 "/admin/streams/stream/", "/admin/orders/order/", "/accounts/brokers/",
                 "/api/v1/orders", "/orders/", "/api/v1/health/market_stream"):  # fmt: skip
        status, body = stack.get(path, user="root" if "admin" in path else "alice")
        assert status == 200, path
        seen.append(body)
    db = sqlite3.connect(stack.db)
    for (table,) in db.execute("select name from sqlite_master where type='table'"):
        seen.extend(repr(row) for row in db.execute(f'select * from "{table}"'))  # noqa: S608
    text = "\n".join(seen)
    assert "1100000001" in text and "orders:1" in text  # the search covers real content
    for token in TOKENS:
        assert token not in text


async def test_the_order_socket_away_for_20_s_loses_nothing_and_repeats_nothing(stack):
    await wait_until_async(
        lambda: stack.sim.order_socket_count == 2,
        timeout=30,
        what="2 order sockets",
        interval=POLL_SECONDS,
        in_thread=True,
    )
    stop = asyncio.Event()
    tabs, tasks = await browsers(stack, stop)
    placed = {place(stack.sim, "alice")}
    await wait_until_async(
        lambda: final_statuses(stack, "alice").get(next(iter(placed))) == "TRADED",
        timeout=20,
        what="the first order traded",
        interval=POLL_SECONDS,
        in_thread=True,
    )
    stack.sim.order_sockets_down(20)
    away_since = time.monotonic()
    while time.monotonic() - away_since < 18:  # orders placed while the socket is away
        placed.add(place(stack.sim, "alice", quantity=1500))
        await asyncio.sleep(3)
    assert stack.sim.order_socket_count == 0
    await wait_until_async(
        lambda: stack.sim.order_socket_count == 2,
        timeout=40,
        what="reconnected",
        interval=POLL_SECONDS,
        in_thread=True,
    )
    await wait_until_async(
        lambda: (
            set(final_statuses(stack, "alice")) == placed
            and set(final_statuses(stack, "alice").values()) == {"TRADED"}
        ),
        timeout=30,
        what="every order and its final status",
        interval=POLL_SECONDS,
        in_thread=True,
    )
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*tasks)
    for tab in tabs[:2]:
        assert tab.order_nos() == placed
        counts = Counter((u["order"]["order_no"], u["event"]) for u in tab.updates)
        assert max(counts.values()) == 1, counts  # nothing twice
        assert {(n, "traded") for n in placed} <= set(counts)


async def test_an_expired_token_shows_on_the_account_and_stops_retrying(stack):
    await wait_until_async(
        lambda: stack.sim.order_socket_count == 2,
        timeout=30,
        what="2 order sockets",
        interval=POLL_SECONDS,
        in_thread=True,
    )
    logins = stack.sim.order_socket_logins
    stack.sim.expire_token(ACCOUNTS["alice"][0])
    await wait_until_async(
        lambda: "Token expired" in stack.get("/accounts/brokers/", user="alice")[1],
        timeout=40,
        what="alice's account marked token expired",
        interval=POLL_SECONDS,
        in_thread=True,
    )
    refused = len(stack.sim.order_socket.refused_logins)
    await asyncio.sleep(6)  # several backoff periods (at most 2 s here)
    assert len(stack.sim.order_socket.refused_logins) == refused  # it stopped trying
    assert 1 < refused <= 4  # the socket's refusal, then a few tries, not a loop
    assert stack.sim.order_socket_logins == logins
    rows = {r["key"]: r for r in json.loads(manage("stream_status", "--json", env=stack.env))}
    assert rows["orders:1"]["state"] == "error"
    assert stack.sim.order_socket_count == 1  # bob's still runs
    status, page = stack.get("/orders/", user="alice")
    assert status == 200 and "has expired" in page
