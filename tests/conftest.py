"""Shared fixtures (what they build lives in tests/support/): the DhanHQ simulator in a
thread, redis-servers, stacks of real processes, Chromium, a web process's live-price
services; and the `e2e` guard: a test that starts processes must be marked so."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.postgres import PostgresServer
from tests.support.processes import NOWHERE_API_URL, mark_running_test
from tests.support.redis import RedisServer
from tests.support.stack import Stack


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before each test's fixtures: whether it may start processes (marked `e2e`)."""
    mark_running_test(e2e=item.get_closest_marker("e2e") is not None)


PG_ALIAS = "pg"  # the bar store's tests on PostgreSQL: django_db(databases=[..., "pg"])


def _wants_postgres(items: list[pytest.Item]) -> bool:
    for item in items:
        if "postgres_server" in getattr(item, "fixturenames", ()):
            return True
        marker = item.get_closest_marker("django_db")
        if marker is not None and PG_ALIAS in (marker.kwargs.get("databases") or ()):
            return True
    return False


@pytest.fixture(scope="session")
def postgres_server(request) -> Iterator[PostgresServer | None]:
    """A real PostgreSQL for this session when a selected test uses it (the `pg` alias,
    or a stack's database); None otherwise."""
    server = PostgresServer() if _wants_postgres(request.session.items) else None
    yield server
    if server is not None:
        server.stop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory, postgres_server):
    """pytest-django's hook before the test databases are made. A file for the SQLite
    test database: feed threads write while tests read, and SQLite's shared-cache memory
    database locks whole tables instead of waiting. And the `pg` alias (on this session's
    PostgreSQL) when a selected test uses it."""
    from django.conf import settings
    from django.db import connections

    path = tmp_path_factory.mktemp("db") / "test.sqlite3"
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = str(path)
    if postgres_server is not None:
        settings.DATABASES[PG_ALIAS] = postgres_server.alias_settings("marketstream")
        connections.configure_settings(settings.DATABASES)  # the new alias's defaults
        connections.__dict__.pop("settings", None)


@pytest.fixture
def simulator():
    from dhan.simulator import DhanSimulator, SimulatorConfig

    sim = DhanSimulator(SimulatorConfig(port=0, rest_port=0, ticks_per_second=20, seed=1))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim_credentials():
    from dhan.simulator import DEMO_ACCESS_TOKEN, DEMO_CLIENT_ID

    return DEMO_CLIENT_ID, DEMO_ACCESS_TOKEN


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    redis_server.client().flushall()
    return redis_server.url


@pytest.fixture
def make_stack(tmp_path) -> Iterator[Callable[..., Stack]]:
    """`make_stack(**options)`: a `Stack` (tests/support/stack.py) in the test's directory;
    everything it started stopped at the end."""
    made: list[Stack] = []

    def make(**options) -> Stack:
        made.append(Stack(tmp_path, **options))
        return made[-1]

    yield make
    for stack in reversed(made):
        stack.stop()


@pytest.fixture
def price_stack(make_stack, request) -> Iterator[Callable[..., Stack]]:
    """`price_stack(web_count, *, redis_url=None, **env)`: the fan-out deployment
    (tests/support/fanout.py) with `web_count` daphne processes, on the session's
    redis-server unless another URL is given."""
    from tests.support.fanout import WINDOW_MS, deploy_prices, price_simulator

    sim = price_simulator()

    def make(web_count: int, *, redis_url: str | None = None, **env: str) -> Stack:
        stack = make_stack(
            sim=sim,
            redis_url=redis_url or request.getfixturevalue("redis_url"),
            LTP_BROADCAST_INTERVAL_MS=str(WINDOW_MS),
            **env,
        )
        return deploy_prices(stack, web_count=web_count)

    yield make
    sim.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium under Playwright, for a module's tests."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import launch_chromium

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A tab of its own (fresh cookies), 1280 by 900."""
    from tests.support.browser import VIEWPORT

    context = browser.new_context(viewport=VIEWPORT)
    yield context.new_page()
    context.close()


@pytest.fixture(autouse=True)
def _no_calls_to_dhanhq(settings):
    """Tests talk to the simulator or to nothing: never to DhanHQ's real REST API."""
    settings.DHANHQ_API_URL = NOWHERE_API_URL


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Passwords set in this process hashed fast (Django's advice for tests): the default
    hasher's rounds cost a third of a second a sign-in, half of `make test-fast`'s time.
    Hashes made the default way still check; processes a test starts keep the default."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


@pytest.fixture(autouse=True)
def _clear_local_price_cache():
    """Embedded mode keeps prices in this process's cache: each test starts without any."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
async def live():
    """A web process's live-price services (broadcaster, fan-out), stopped at the end."""
    from prices.live import LivePrices

    services = LivePrices()
    yield services
    await services.stop()


@pytest.fixture
def dashboard_app(live):
    """`/ws/dashboard/`'s consumer with `live` in its scope, as the ASGI app has it."""
    from prices.consumers import PricesConsumer
    from prices.live import LivePricesMiddleware

    def app(consumer=PricesConsumer):
        return LivePricesMiddleware(consumer.as_asgi(), live)

    return app
