"""One WebSocket per tab (static/js/socket.js), in headless Chromium against a live site:
every page's prices, quotes and the signed-in user's orders, portfolio and alert firings
share it; an alert firing makes one toast; a dropped socket comes back once, with every
subscription sent again."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, WebSocket, WebSocketRoute

from tests.support.browser import (
    VIEWPORT,
    Site,
    live_site,
    screenshot,
    sign_in,
    until,
)
from tests.support.processes import manage

pytestmark = pytest.mark.e2e

STRIP = {"IDX_I:13", "IDX_I:25", "IDX_I:51"}  # the top bar's indices, on every page
RELIANCE = "NSE_EQ:2885"
# Each page and the streams its one socket must carry besides prices and quotes.
SIGNED_IN_PAGES = {
    "/screeners/swing": {"subscribe_orders"},
    "/orders/": {"subscribe_orders"},
    "/alerts/": {"subscribe_orders"},
    "/portfolio/": {"subscribe_orders", "subscribe_portfolio"},
    "/accounts/brokers/": {"subscribe_orders"},
}


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Site]:
    with live_site(tmp_path_factory.mktemp("socket"), demo_streams=True) as running:
        yield running


@pytest.fixture(scope="module")
def member(browser: Browser, live: Site) -> Iterator[BrowserContext]:
    """A browser signed in as the demo user; each test opens its own tabs."""
    context = browser.new_context(viewport=VIEWPORT)
    sign_in(context.new_page(), live, username="demo", password="demo", then="/screeners/")
    yield context
    context.close()


def asked(frames: list[str]) -> set[tuple[str, str | None]]:
    """(action, mode) of each client message, with a subscription's keys folded in."""
    found: set = set()
    for frame in frames:
        message = json.loads(frame)
        found.add((message["action"], message.get("mode")))
        if message["action"] == "subscribe":
            found.update(("key", f"{message.get('mode', 'ltp')} {k}") for k in message["keys"])
    return found


def strip_subscriptions() -> set[tuple[str, str | None]]:
    return {("key", f"{mode} {key}") for mode in ("ltp", "quote") for key in STRIP}


def watch_sockets(tab: Page) -> tuple[list[str], list[str]]:
    """The URL of each WebSocket the tab opens, and every message it sends on them."""
    sockets: list[str] = []
    frames: list[str] = []

    def opened(ws: WebSocket) -> None:
        sockets.append(ws.url)
        ws.on("framesent", lambda payload: frames.append(payload))

    tab.on("websocket", opened)
    return sockets, frames


def make_alert(site: Site, *, token: str, key: str, condition: str, value: float) -> dict:
    body = json.dumps({"key": key, "condition": condition, "value": value, "frequency": "once"})
    request = urllib.request.Request(  # noqa: S310 - the test's own server
        f"{site.url}/api/v1/alerts",
        data=body.encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.status == 201
        return json.loads(answer.read())["alert"]


def test_a_signed_in_tab_opens_one_websocket_and_one_alert_firing_shows_one_toast(live, member):
    for path, streams in SIGNED_IN_PAGES.items():
        tab = member.new_page()
        sockets, frames = watch_sockets(tab)
        tab.goto(f"{live.url}{path}")
        wanted = {(action, None) for action in streams} | strip_subscriptions()
        until(tab, lambda: wanted <= asked(frames), timeout=15, what=f"{path}: {wanted}")  # noqa: B023
        tab.wait_for_timeout(2000)  # every script on the page has run and connected by now
        assert sockets == [f"{live.url.replace('http', 'ws')}/ws/dashboard/"], path
        if path != "/screeners/swing":
            tab.close()
        else:
            swing = tab
    # An `above` alert on a level already passed fires at once: one event, one toast.
    token = manage("create_api_token", "--user", "demo", env=live.env).strip().splitlines()[-1]
    make_alert(live, token=token, key=RELIANCE, condition="above", value=1)
    swing.locator("#toasts .toast.alert").wait_for(timeout=15_000)
    swing.wait_for_timeout(2000)  # a second toast for the same firing would be here by now
    assert swing.locator("#toasts .toast").count() == 1
    assert f"Alert: {RELIANCE} above 1" in swing.locator("#toasts .toast").inner_text()
    screenshot(swing, "alert-toast")


def test_a_dropped_socket_comes_back_once_with_every_subscription_again(live, member):
    connections: list[tuple[WebSocketRoute, list[str], WebSocketRoute]] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        sent: list[str] = []
        connections.append((ws, sent, server))

        def forward(message: str | bytes) -> None:  # page -> server, recorded
            sent.append(message)
            server.send(message)

        ws.on_message(forward)

    tab = member.new_page()
    tab.route_web_socket("**/ws/dashboard/", route)
    tab.goto(f"{live.url}/portfolio/")
    everything = strip_subscriptions() | {("subscribe_orders", None), ("subscribe_portfolio", None)}
    until(tab, lambda: everything <= asked(connections[0][1]), timeout=15, what="subscriptions")
    tab.wait_for_function(  # the first socket's portfolio is on the table
        "() => Number(document.getElementById('portfolio-table').dataset.updates) >= 1",
        timeout=15_000,
    )
    assert len(connections) == 1
    updates = int(tab.locator("#portfolio-table").get_attribute("data-updates"))
    connections[0][0].close()  # the page's side drops, as a network would
    connections[0][2].close()
    until(tab, lambda: len(connections) == 2, timeout=10, what="a reconnect")
    until(tab, lambda: everything <= asked(connections[1][1]), timeout=10, what="resubscribed")
    assert asked(connections[1][1]) == asked(connections[0][1])
    tab.wait_for_function(  # the new socket's portfolio reaches the table
        f"() => Number(document.getElementById('portfolio-table').dataset.updates) > {updates}",
        timeout=15_000,
    )
    tab.wait_for_timeout(3000)
    assert len(connections) == 2  # one reconnect, not one per script
    tab.close()
