"""Charts and finding an instrument in headless Chromium (issue 21, items 7 and 8), against a
live site whose bar store was backfilled from the simulator and whose feed builds candles:
typing RELI in the top bar offers RELIANCE and opens its chart, drawn from its history in
IST; a live trade moves the forming candle and a later minute starts a new one; switching
timeframe reloads the history and the subscription; a dropped socket comes back with no
bar duplicated or missing; a screener row, an order, a holding and an alert open the
instrument panel with its chart; the alert form takes a picked symbol; and the browser
refuses nothing under the CSP (one module: one live site, backfilled once, for all)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from dhanhq import DhanContext, dhanhq
from playwright.sync_api import Browser, BrowserContext, Page, WebSocketRoute

from dhan.segments import InstrumentKey
from dhan.simulator import (
    BASE_PRICES_FILE,
    DEMO_ACCESS_TOKEN,
    DEMO_CLIENT_ID,
    DhanSimulator,
    SimulatorConfig,
)
from tests.support.browser import (
    SIMULATOR_TICKS_PER_SECOND,
    VIEWPORT,
    Complaints,
    screenshot,
    sign_in,
    until,
)
from tests.support.instruments import sample_tick_sizes
from tests.support.processes import free_port
from tests.support.stack import PREPARE_COMMANDS, Stack

pytestmark = pytest.mark.e2e

RELIANCE = "NSE_EQ:2885"  # tick 0.10 in the bundled scrip master
TCS = "NSE_EQ:11536"
HISTORY_KEYS = f"{RELIANCE},{TCS}"
IST_OFFSET_SECONDS = 19800
DAILY_HISTORY_DAYS = 365
MINUTE_HISTORY_DAYS = 3
CHART = ".js-chart"
MINUTE_SECONDS = 60
# The bars the chart draws: [[time drawn, close], ...], oldest first.
DRAWN = """(root) => root.candleChart.candles.data().map((p) => [p.time, p.close])"""
OFFERED_KEYS = "(options) => options.map((option) => option.dataset.key)"


@dataclass
class ChartSite:
    url: str
    sim: DhanSimulator

    def pin(self, price: float | None) -> None:
        """RELIANCE's trades at `price` from now on (None: free again)."""
        self.sim.prices.pin(InstrumentKey.parse(RELIANCE), price)

    def buy(self, security_id: str) -> str:
        """A market order of the demo account's, through the official SDK; its id."""
        context = DhanContext(DEMO_CLIENT_ID, DEMO_ACCESS_TOKEN)
        context.get_dhan_http().base_url = f"http://127.0.0.1:{self.sim.rest_port}/v2"
        answer = dhanhq(context).place_order(
            security_id=security_id,
            exchange_segment="NSE_EQ",
            transaction_type="BUY",
            quantity=1,
            order_type="MARKET",
            product_type="INTRADAY",
            price=0,
        )
        return str(answer["data"]["orderId"])

    def bars(self, page: Page, tf: str) -> dict:
        answer = page.request.get(f"{self.url}/api/v1/bars?key={RELIANCE}&tf={tf}")
        assert answer.ok, answer.text()
        return answer.json()


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[ChartSite]:
    """`make run`'s site (the simulator in this process, so a test can pin a price), with
    a year of daily bars and a few days of minute bars backfilled from the simulator."""
    config = SimulatorConfig(
        port=free_port(),
        rest_port=0,
        ticks_per_second=SIMULATOR_TICKS_PER_SECOND,
        holdings={DEMO_CLIENT_ID: [{"key": TCS, "quantity": 10, "avg_cost": 3000.55}]},
    )
    sim = DhanSimulator(
        config,
        tick_size=sample_tick_sizes(),
        base_prices=json.loads(BASE_PRICES_FILE.read_text())["prices"],
        symbols={RELIANCE: "RELIANCE", TCS: "TCS"},
    ).start()
    today = date.today()
    with Stack(
        tmp_path_factory.mktemp("charts"),
        sim=sim,
        rest=True,
        database="charts.sqlite3",
        LTP_BROADCAST_INTERVAL_MS="500",
        DJANGO_DEBUG="true",
    ) as stack:
        stack.prepare(*PREPARE_COMMANDS, "demo_user")
        for tf, days in (("1d", DAILY_HISTORY_DAYS), ("1m", MINUTE_HISTORY_DAYS)):
            since = (today - timedelta(days=days)).isoformat()
            stack.manage("backfill_history", "--keys", HISTORY_KEYS, "--tf", tf, "--from", since)
        web = stack.run_web(demo_streams=True)
        yield ChartSite(web.url, sim)


@pytest.fixture(scope="module")
def member(browser: Browser, live: ChartSite) -> Iterator[BrowserContext]:
    """A browser signed in as the demo user; each test opens its own tabs."""
    context = browser.new_context(viewport=VIEWPORT)
    sign_in(context.new_page(), live, username="demo", password="demo", then="/screeners/")
    yield context
    context.close()


def chart_state(page: Page, selector: str = CHART) -> dict[str, str]:
    return page.eval_on_selector(selector, "(root) => ({...root.dataset})")


def drawn(page: Page, selector: str = CHART) -> list[list[float]]:
    return page.eval_on_selector(selector, DRAWN)


def wait_ready(page: Page, *, tf: str, loads: int, selector: str = CHART) -> dict[str, str]:
    """The chart's state once it has drawn `tf` after its `loads`-th history load."""

    def ready() -> bool:
        state = chart_state(page, selector)
        done = state.get("state") == "ready" and state.get("tf") == tf
        return done and int(state.get("loads", 0)) >= loads

    until(page, ready, timeout=20, what=f"the {tf} chart drawn")
    return chart_state(page, selector)


def bar_starts(page: Page, selector: str = CHART) -> list[int]:
    """The starts of the bars drawn, back from the IST the axis shows to Unix time."""
    return [int(time) - IST_OFFSET_SECONDS for time, _ in drawn(page, selector)]


def matches_the_api(page: Page, live: ChartSite, tf: str) -> bool:
    """The chart's bars are the API's, each once, oldest first, with the forming one."""
    starts = bar_starts(page)
    answer = live.bars(page, tf)
    expected = [bar["t"] for bar in answer["bars"]]
    expected += [answer["forming"]["t"]] if answer["forming"] else []
    return starts == expected


def test_typing_reli_offers_reliance_and_picking_it_opens_its_chart_from_history(live, page):
    complaints = Complaints.watch(page)
    page.goto(f"{live.url}/screeners/")
    page.locator("#instrument-search").press_sequentially("RELI", delay=50)
    reliance = page.locator(f"#instrument-search-list [role=option][data-key='{RELIANCE}']")
    reliance.wait_for(timeout=10_000)
    assert reliance.locator(".symbol").inner_text() == "RELIANCE"
    assert page.locator("#instrument-search-list .symbol").all_inner_texts()[0] == "RELIANCE"
    reliance.click()
    page.wait_for_url(f"**/chart/{RELIANCE}")
    state = wait_ready(page, tf="1d", loads=1)
    assert int(state["bars"]) > 100  # a year of daily bars
    until(page, lambda: matches_the_api(page, live, "1d"), timeout=10, what="the API's bars")
    # Each daily bar starts at 00:00 IST, drawn at 00:00 on the axis (which shows UTC).
    assert all(time % 86400 == 0 for time, _ in drawn(page))
    screenshot(page, "chart-reliance-1d")
    assert complaints.of(page) == []


def test_switching_timeframe_reloads_and_a_live_trade_moves_the_forming_candle(live, page):
    complaints = Complaints.watch(page)
    sent: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(json.loads(f))))
    page.goto(f"{live.url}/chart/{RELIANCE}")
    wait_ready(page, tf="1d", loads=1)
    with page.expect_response(lambda r: "/api/v1/bars" in r.url and "tf=1m" in r.url):
        page.click(f"{CHART} .js-tf[data-tf='1m']")
    wait_ready(page, tf="1m", loads=2)
    assert page.locator(".js-tf[aria-pressed=true]").all_inner_texts() == ["1m"]
    until(page, lambda: matches_the_api(page, live, "1m"), timeout=10, what="the 1m bars")
    asked = [(m["action"], m.get("mode"), m.get("tf"), m.get("keys")) for m in sent]
    assert ("unsubscribe", "candles", "1d", [RELIANCE]) in asked
    assert ("subscribe", "candles", "1m", [RELIANCE]) in asked

    price = round(float(chart_state(page)["lastClose"])) + 7.0  # on RELIANCE's 0.10 grid
    try:
        live.pin(price)
        until(
            page,
            lambda: float(chart_state(page)["lastClose"]) == price,
            timeout=15,
            what=f"the forming candle to close at {price}",
        )
        pinned_minute = int(chart_state(page)["lastTime"])
        # A later minute starts a new candle; the one before stays as it closed.
        until(
            page,
            lambda: int(chart_state(page)["lastTime"]) > pinned_minute,
            timeout=75,
            what="a new minute's candle",
        )
        closed, forming = drawn(page)[-2:]
    finally:
        live.pin(None)
    starts = bar_starts(page)
    assert starts == sorted(set(starts)) and pinned_minute in starts
    assert closed == [pinned_minute + IST_OFFSET_SECONDS, price]  # closed as last sent
    assert forming[0] > closed[0] and forming[0] % MINUTE_SECONDS == 0
    screenshot(page, "chart-reliance-1m-live")
    assert complaints.of(page) == []


def test_a_dropped_socket_comes_back_with_no_bar_duplicated_or_missing(live, page):
    complaints = Complaints.watch(page)
    connections: list[tuple[WebSocketRoute, WebSocketRoute]] = []

    def route(ws: WebSocketRoute) -> None:
        connections.append((ws, ws.connect_to_server()))

    page.route_web_socket("**/ws/dashboard/", route)
    page.goto(f"{live.url}/chart/{RELIANCE}?tf=1m")
    wait_ready(page, tf="1m", loads=1)
    until(page, lambda: connections, timeout=10, what="the page's socket")
    price = round(float(chart_state(page)["lastClose"])) - 5.0
    try:
        connections[0][0].close()  # the network drops the socket, both ends
        connections[0][1].close()
        live.pin(price)  # trades the page misses while its socket is down
        until(page, lambda: len(connections) == 2, timeout=15, what="a reconnect")
        until(
            page,
            lambda: float(chart_state(page)["lastClose"]) == price,
            timeout=15,
            what="the chart to catch up",
        )
        until(page, lambda: matches_the_api(page, live, "1m"), timeout=10, what="the API's bars")
        # Live again on the new socket (nothing polls while it is open).
        live.pin(price + 3.0)
        until(
            page,
            lambda: float(chart_state(page)["lastClose"]) == price + 3.0,
            timeout=15,
            what="a live trade on the new socket",
        )
    finally:
        live.pin(None)
    assert complaints.of(page) == []


def test_a_screener_rows_panel_draws_its_chart(live, page):
    complaints = Complaints.watch(page)
    page.goto(f"{live.url}/screeners/swing")
    page.locator("tr.js-row[data-symbol=RELIANCE] td.name").click()
    panel_chart = f"#instrument-panel {CHART}"
    state = wait_ready(page, tf="1d", loads=1, selector=panel_chart)
    assert state["instrumentKey"] == RELIANCE and int(state["bars"]) > 100
    assert page.locator("#instrument-panel .js-panel-chart-link").get_attribute("href") == (
        f"/chart/{RELIANCE}"
    )
    screenshot(page, "instrument-panel-chart")
    page.keyboard.press("Escape")
    assert page.locator("#instrument-panel").is_hidden()
    assert complaints.of(page) == []


def open_panel_from(tab: Page, row: str, key: str, *, shot: str) -> None:
    """Clicks `row` (its first cell), waits for the panel's chart of `key`, closes it."""
    tab.locator(row).first.locator("td").first.click()
    state = wait_ready(tab, tf="1d", loads=1, selector=f"#instrument-panel {CHART}")
    assert state["instrumentKey"] == key and int(state["bars"]) > 100
    screenshot(tab, shot)
    tab.keyboard.press("Escape")


def test_an_order_and_a_holding_open_the_panel_with_their_chart(live, member):
    order_id = live.buy("2885")  # RELIANCE: an order, then a position
    tab = member.new_page()
    complaints = Complaints.watch(tab)
    tab.goto(f"{live.url}/orders/")
    order = f"#orders-table tr[data-order-no='{order_id}']"
    tab.locator(order).wait_for(timeout=15_000)
    open_panel_from(tab, order, RELIANCE, shot="orders-panel-chart")
    tab.goto(f"{live.url}/portfolio/")
    holding = "#portfolio-table tbody tr:has(td:text-is('TCS'))"  # the account's holding
    tab.locator(holding).wait_for(timeout=15_000)
    tab.wait_for_function(  # the rows portfolio.js draws, which carry no key of their own
        "() => Number(document.getElementById('portfolio-table').dataset.updates) >= 1",
        timeout=15_000,
    )
    open_panel_from(tab, holding, TCS, shot="portfolio-panel-chart")
    assert complaints.of(tab) == []
    tab.close()


def test_the_alert_form_takes_a_symbol_picked_from_the_list(live, member):
    tab = member.new_page()
    complaints = Complaints.watch(tab)
    tab.goto(f"{live.url}/alerts/")
    tab.locator("#alert-key").press_sequentially("RELI", delay=50)
    tab.locator(f"#alert-key-list [role=option][data-key='{RELIANCE}']").wait_for(timeout=10_000)
    offered = tab.eval_on_selector_all("#alert-key-list [role=option]", OFFERED_KEYS)
    for _ in range(offered.index(RELIANCE)):  # the first is highlighted
        tab.keyboard.press("ArrowDown")
    tab.keyboard.press("Enter")
    assert tab.locator("#alert-key").input_value() == "RELIANCE"
    assert tab.locator("#alert-picked-key").input_value() == RELIANCE
    tab.select_option("#alert-condition", "above")
    tab.fill("#alert-value", "1")
    tab.click("#alert-form button[type=submit]")
    row = tab.locator(f"#alerts-table tr[data-instrument-key='{RELIANCE}']")
    row.first.wait_for(timeout=10_000)
    assert tab.locator(".message.success").inner_text().startswith("Alert set")
    alert = f"#alerts-table tr[data-instrument-key='{RELIANCE}']"
    open_panel_from(tab, alert, RELIANCE, shot="alerts-panel-chart")
    assert complaints.of(tab) == []
    tab.close()
