"""The screener pages in headless Chromium (Debian's, driven by Playwright) against a real
daphne, the simulator and the demo streams. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.support.browser import (
    Site,
    live_site,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Site:
    with live_site(tmp_path_factory.mktemp("browser")) as running:
        yield running


@pytest.fixture(scope="module")
def site(live) -> str:
    return live.url


def status(page: Page) -> str:
    return page.locator("#feed-status").get_attribute("data-status") or ""


# Predicates are functions, not expression strings: Playwright evaluates a string with
# eval(), which the pages' Content-Security-Policy refuses (as it should).
def wait_for_status(page: Page, wanted: str, *, timeout_ms: int = 20_000) -> None:
    page.wait_for_function(
        f"() => document.getElementById('feed-status').dataset.status === {json.dumps(wanted)}",
        timeout=timeout_ms,
    )


def depth_watched(site: str) -> dict:
    """What this web process's sockets hold: `key_sets` (ltp), `depth_key_sets`, `depth`."""
    with urllib.request.urlopen(f"{site}/api/v1/ws_subscriptions", timeout=5) as r:  # noqa: S310
        return json.loads(r.read())


def subscriptions(site: str) -> list[list[str]]:
    return depth_watched(site)["key_sets"]


@pytest.mark.parametrize("screener_type", ["swing", "longterm"])
def test_price_cells_change_and_flash_within_seconds_of_page_load(site, page, screener_type):
    page.goto(f"{site}/screeners/{screener_type}")  # starts the stream if needed
    wait_for_status(page, "live")
    first = page.locator(".js-ltp-cell").first
    assert first.get_attribute("data-instrument-key").count(":") == 1
    texts = page.locator(".js-ltp-cell").all_inner_texts()
    page.wait_for_selector(".js-ltp-cell.flash", timeout=10_000)
    page.wait_for_function(
        f"() => [...document.querySelectorAll('.js-ltp-cell')].some("
        f"(c, i) => c.textContent.trim() !== {json.dumps(texts)}[i] && c.textContent !== '—')",
        timeout=10_000,
    )
    # The last tick's direction (the flash's colour; the resting colour is the day's change).
    assert page.locator(".js-ltp-cell.tick-up, .js-ltp-cell.tick-down").count() > 0
    # The streams run in quote mode: the day's volume, high and low arrive live too.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-quote-cell[data-field=volume]')]"
        ".some(c => Number(c.textContent.replaceAll(',', '')) > 0)",
        timeout=10_000,
    )
    high = page.locator(".js-quote-cell[data-field=high]").first.inner_text()
    low = page.locator(".js-quote-cell[data-field=low]").first.inner_text()
    assert high == "—" or float(high) >= float(low)
    time.sleep(1)  # let a few windows land before the picture
    assert screenshot(page, f"screener-{screener_type}").stat().st_size > 10_000


def test_blocked_websocket_falls_back_to_polling_and_returns_to_the_socket(site, page):
    blocked = {"on": True}
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/api/v1/current_prices" in r.url else None)

    def route(ws):
        if blocked["on"]:
            ws.close()
        else:
            ws.connect_to_server()

    page.route_web_socket("**/ws/dashboard/", route)
    page.goto(f"{site}/screeners/swing")
    wait_for_status(page, "polling")
    assert "Polling" in page.locator("#feed-status").inner_text()
    texts = page.locator(".js-ltp-cell").all_inner_texts()
    page.wait_for_function(
        f"() => [...document.querySelectorAll('.js-ltp-cell')].some("
        f"(c, i) => c.textContent.trim() !== {json.dumps(texts)}[i])",
        timeout=10_000,
    )
    deadline = time.monotonic() + 10
    while len(polls) < 3 and time.monotonic() < deadline:  # polling goes on, every 1.5 s
        page.wait_for_timeout(100)
    assert len(polls) >= 3
    keys = page.eval_on_selector_all(".js-ltp-cell", "cs => cs.map(c => c.dataset.instrumentKey)")
    assert all(
        set(url.split("keys=")[1].replace("%3A", ":").replace("%2C", ",").split(",")) == set(keys)
        for url in polls
    )  # the visible keys, nothing else
    screenshot(page, "screener-swing-polling")
    blocked["on"] = False
    wait_for_status(page, "live", timeout_ms=40_000)
    time.sleep(0.5)
    seen = len(polls)
    time.sleep(4)
    assert len(polls) == seen  # back on the socket: polling stopped


def test_hidden_tabs_do_not_poll(site, page):
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/api/v1/current_prices" in r.url else None)
    page.route_web_socket("**/ws/dashboard/", lambda ws: ws.close())
    page.goto(f"{site}/screeners/swing")
    wait_for_status(page, "polling")
    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    time.sleep(0.5)
    seen = len(polls)
    time.sleep(4)
    assert len(polls) == seen


STRIP = ["IDX_I:13", "IDX_I:25", "IDX_I:51"]  # the top bar's indices, on every page


def row_keys(page: Page) -> list[str]:
    return page.eval_on_selector_all(
        "#screener-table .js-ltp-cell", "cs => cs.map(c => c.dataset.instrumentKey)"
    )


def test_paging_changes_the_keys_the_consumer_holds(site, page):
    page.goto(f"{site}/screeners/swing?per_page=5")
    wait_for_status(page, "live")
    first_keys = sorted(row_keys(page) + STRIP)
    assert len(first_keys) == 5 + len(STRIP)
    deadline = time.monotonic() + 10
    while first_keys not in subscriptions(site) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first_keys in subscriptions(site)
    page.locator("nav.pager a.next").click()
    page.wait_for_url("**page=2**")
    wait_for_status(page, "live")
    second_keys = sorted(row_keys(page) + STRIP)
    assert len(second_keys) == 5 + len(STRIP)
    assert set(first_keys) & set(second_keys) == set(STRIP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        held = subscriptions(site)
        if second_keys in held and first_keys not in held:
            break
        time.sleep(0.2)
    assert second_keys in held and first_keys not in held


def test_index_strip_moves_and_a_rows_panel_shows_twenty_live_levels(site, page):
    page.goto(f"{site}/screeners/swing")
    wait_for_status(page, "live")
    strip = "#index-strip .js-ltp-cell"
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{strip}')]"
        ".every(c => c.dataset.price !== undefined)",
        timeout=20_000,
    )
    before = page.eval_on_selector_all(strip, "cs => cs.map(c => c.dataset.price)")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{strip}')].some("
        f"(c, i) => c.dataset.price !== {json.dumps(before)}[i])",
        timeout=20_000,
    )
    page.locator("tr.js-row[data-symbol=RELIANCE]").click()
    panel = page.locator("#instrument-panel")
    assert panel.is_visible()
    page.wait_for_function(
        "() => document.getElementById('instrument-panel').dataset.levels === '20'", timeout=20_000
    )
    assert panel.get_attribute("data-source") == "depth20"
    assert page.locator("#instrument-panel .js-ladder tr").count() == 20
    first = page.locator("#instrument-panel .js-ladder").inner_text()
    page.wait_for_function(  # the ladder updates live
        "() => document.querySelector('#instrument-panel .js-ladder').innerText !== "
        + json.dumps(first),
        timeout=20_000,
    )
    assert "Spread" in page.locator("#instrument-panel .js-spread").inner_text()
    assert depth_watched(site)["depth_key_sets"] == [["NSE_EQ:2885"]]
    screenshot(page, "instrument-panel")
    page.locator("#instrument-panel .js-panel-close").click()
    assert panel.is_hidden()
    deadline = time.monotonic() + 10
    while depth_watched(site)["depth"] and time.monotonic() < deadline:
        time.sleep(0.2)
    held = depth_watched(site)
    assert held["depth_key_sets"] == [] and held["depth"] == []


# A click on the Change header and the rows' change % read in one task: a live update
# landing between a click and a later read would change values after the sort.
SORT_AND_READ = """() => {
  document.getElementById("sort-change").click();
  return [...document.querySelectorAll("#screener-table tbody .js-change-cell")]
    .map(c => c.dataset.changePct).filter(v => v !== undefined).map(Number);
}"""


def test_the_change_header_sorts_rows_by_live_change(site, page):
    page.goto(f"{site}/screeners/swing")
    wait_for_status(page, "live")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#screener-table .js-change-cell')]"
        ".filter(c => c.dataset.changePct !== undefined).length >= 3",
        timeout=20_000,
    )
    assert page.locator("#sort-change").is_visible()
    pcts = page.evaluate(SORT_AND_READ)
    assert pcts == sorted(pcts, reverse=True)
    pcts = page.evaluate(SORT_AND_READ)
    assert pcts == sorted(pcts)


def test_a_signed_in_user_sees_orders_live_and_a_toast_when_one_fills(live, page):
    from dhanhq import DhanContext, dhanhq

    sign_in(page, live, username="demo", password="demo", then="/orders/")
    context = DhanContext("1000000001", "demo-token")
    context.get_dhan_http().base_url = live.simulator_rest
    deadline = time.monotonic() + 20  # the order socket starts with the sign-in's account
    while time.monotonic() < deadline:
        answer = dhanhq(context).place_order(
            security_id="2885",
            exchange_segment="NSE_EQ",
            transaction_type="BUY",
            quantity=5,
            order_type="MARKET",
            product_type="CNC",
            price=0,
        )
        order_no = str(answer["data"]["orderId"])
        try:
            page.wait_for_selector(f"#orders-table tr[data-order-no='{order_no}']", timeout=4000)
            break
        except PlaywrightTimeout:  # the order socket was not up yet: place another
            pass
    row = page.locator(f"#orders-table tr[data-order-no='{order_no}']")
    page.wait_for_function(
        f"() => document.querySelector(\"#orders-table tr[data-order-no='{order_no}'] .status\")"
        ".textContent === 'TRADED'",
        timeout=15_000,
    )
    assert "RELIANCE" in row.inner_text()
    toast = page.locator("#toasts .toast.traded").first
    toast.wait_for(timeout=10_000)
    assert "Filled: buy 5 RELIANCE" in toast.inner_text()
    screenshot(page, "orders")
