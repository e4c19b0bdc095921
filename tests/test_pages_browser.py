"""The newcomer's path through the demo, in headless Chromium against a live site started
as `make run` starts it: every page's index strip moves, nothing complains in the console
(the favicon included), the top bar fits one line at 1280 px signed in, the API docs render
under the CSP, the demo's admin reaches /admin/, the forms are styled, prices and changes
share one colour, the row bell is drawn, and a cash equity's panel shows no OI."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.support.browser import (
    VIEWPORT,
    Complaints,
    Site,
    live_site,
    screenshot,
    sign_in,
    until,
)

pytestmark = pytest.mark.e2e

SIGNED_IN_PAGES = [
    "/screeners/swing",
    "/screeners/longterm",
    "/orders/",
    "/alerts/",
    "/portfolio/",
    "/accounts/brokers/",
]
STRIP = "#index-strip .js-ltp-cell"

# One line: every part of the bar a single line high, all in one horizontal band, nothing
# clipped. Returns what is wrong.
TOP_BAR_PROBLEMS = """() => {
  const bar = document.querySelector(".topbar");
  const strip = document.getElementById("index-strip");
  const parts = [...bar.querySelectorAll("a, button, .label, .js-ltp-cell, .js-change-cell")]
    .filter((e) => e.getClientRects().length);
  const rects = parts.map((e) => e.getBoundingClientRect());
  const problems = parts.filter((e, i) =>
    rects[i].height > 1.5 * parseFloat(getComputedStyle(e).lineHeight))
    .map((e) => `"${e.textContent.trim()}" is ${e.getBoundingClientRect().height}px high`);
  if (Math.min(...rects.map((r) => r.bottom)) <= Math.max(...rects.map((r) => r.top))) {
    problems.push(`parts on more than one line: tops ${rects.map((r) => r.top)}`);
  }
  if (strip.scrollWidth > strip.clientWidth || bar.scrollWidth > bar.clientWidth) {
    problems.push("the bar's content is wider than the bar");
  }
  if (parts.length < 15) problems.push(`only ${parts.length} parts`);
  return problems;
}"""

# A price cell and its change cell in one colour (the day's change), never "-0.00", and a
# change shown as 0.00 (or 0.00% where only the % shows) uncoloured. Returns what is wrong.
COLOUR_PROBLEMS = """() => {
  const direction = (e) => e.classList.contains("up") ? "up"
    : e.classList.contains("down") ? "down" : "plain";
  const problems = [];
  for (const cell of document.querySelectorAll(".js-ltp-cell[data-price][data-prev-close]")) {
    if (cell.matches(".stale, .unavailable")) continue;
    const key = cell.dataset.instrumentKey;
    const change = document.querySelector(`.js-change-cell[data-instrument-key="${key}"] span`);
    if (!change) continue;
    const text = change.textContent;
    if (/-0\\.00(?!\\d)/.test(text)) problems.push(`${key} shows ${text}`);
    if (/^0\\.00[% ]/.test(text) && direction(change) !== "plain") {
      problems.push(`${key}: ${text} coloured ${direction(change)}`);
    }
    if (direction(cell) !== direction(change)
        || getComputedStyle(cell).color !== getComputedStyle(change).color) {
      problems.push(`${key}: price ${direction(cell)} beside change ${direction(change)} ${text}`);
    }
  }
  return problems;
}"""

# Each input of a form: its label above it, and our field style (rounded, padded).
FORM_FIELDS = """(form) => [...form.querySelectorAll("input:not([type=hidden]), select")]
  .map((input) => {
    const label = form.querySelector(`label[for="${input.id}"]`);
    const style = getComputedStyle(input);
    return {name: input.name,
      labelAbove: Boolean(label) && label.getBoundingClientRect().bottom
        <= input.getBoundingClientRect().top + 1,
      radius: parseFloat(style.borderTopLeftRadius), padding: parseFloat(style.paddingLeft)};
  })"""


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Site]:
    with live_site(tmp_path_factory.mktemp("pages"), demo_streams=True) as running:
        yield running


@pytest.fixture(scope="module")
def member(browser: Browser, live: Site) -> Iterator[BrowserContext]:
    """A browser signed in as the demo user; each test opens its own tabs."""
    context = browser.new_context(viewport=VIEWPORT)
    sign_in(context.new_page(), live, username="demo", password="demo", then="/screeners/")
    yield context
    context.close()


def strip_prices(tab: Page) -> list[str | None]:
    return tab.eval_on_selector_all(STRIP, "cs => cs.map(c => c.dataset.price || null)")


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_each_pages_index_strip_moves_with_one_line_top_bar_and_no_console_error(
    live, member, path
):
    tab = member.new_page()
    complaints = Complaints.watch(tab)
    tab.goto(f"{live.url}{path}")
    until(tab, lambda: all(strip_prices(tab)), timeout=10, what="the strip's prices")
    before = strip_prices(tab)
    until(tab, lambda: strip_prices(tab) != before, timeout=10, what=f"{path}'s strip to move")
    assert tab.evaluate(TOP_BAR_PROBLEMS) == []
    icon = tab.locator("link[rel=icon]").get_attribute("href")
    for url in (f"{live.url}{icon}", f"{live.url}/favicon.ico"):  # the latter redirects
        answer = tab.request.get(url)
        assert answer.ok and answer.headers["content-type"] == "image/svg+xml", url
    tab.wait_for_timeout(1000)  # late complaints: a poll, a reconnect, an image
    screenshot(tab, f"page{path.rstrip('/').replace('/', '-')}")
    assert complaints.of(tab) == []
    tab.close()


def test_the_api_docs_render_under_the_csp(live, page):
    complaints = Complaints.watch(page)
    page.goto(f"{live.url}/api/v1/docs")
    page.locator(".opblock").first.wait_for(timeout=15_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/api/v1/current_prices", "/api/v1/alerts", "/api/v1/orders"} <= set(paths)
    page.wait_for_timeout(1000)
    screenshot(page, "api-docs")
    assert complaints.of(page) == []


def test_the_demos_admin_user_reaches_the_admin(live, page):
    page.goto(f"{live.url}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin")
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"{live.url}/admin/")
    assert "Site administration" in page.locator("h1").inner_text()
    assert page.locator("a[href*='/stream/']").count() > 0  # stream control
    screenshot(page, "admin")


def test_prices_and_changes_share_one_colour_and_never_read_minus_zero(live, page):
    page.goto(f"{live.url}/screeners/swing")
    page.wait_for_function("() => document.querySelectorAll('.js-ltp-cell.flash').length > 0")
    problems: list[str] = []
    for _ in range(20):  # through many ticks and windows
        problems += page.evaluate(COLOUR_PROBLEMS)
        page.wait_for_timeout(250)
    assert problems == []


def test_the_row_bell_is_drawn_not_an_emoji(live, page):
    page.goto(f"{live.url}/screeners/swing")
    rows = page.locator("#screener-table tbody tr").count()
    bells = page.locator("a.bell")
    assert bells.count() == rows > 0
    assert all(text.strip() == "" for text in bells.all_inner_texts())  # no emoji
    box = page.locator("a.bell svg.icon").first.bounding_box()
    assert box is not None and 8 <= box["width"] <= 24 and 8 <= box["height"] <= 24


def test_a_cash_equitys_panel_shows_no_oi(live, page):
    page.goto(f"{live.url}/screeners/swing")
    page.locator("tr.js-row[data-symbol=RELIANCE]").click()
    labels = page.locator("#instrument-panel .js-panel-quote dt")
    labels.first.wait_for(timeout=15_000)
    assert "LTP" in labels.all_inner_texts() and "OI" not in labels.all_inner_texts()
    screenshot(page, "instrument-panel-quote")


def test_the_alert_account_and_sign_in_forms_are_styled(live, member, page):
    page.goto(f"{live.url}/accounts/login/")
    forms = {"sign-in": page.evaluate(FORM_FIELDS, page.locator("form.form").element_handle())}
    tab = member.new_page()
    for name, path, form in [
        ("alert", "/alerts/", "#alert-form"),
        ("broker-account", "/accounts/brokers/", "form.form"),
    ]:
        tab.goto(f"{live.url}{path}")
        forms[name] = tab.evaluate(FORM_FIELDS, tab.locator(form).element_handle())
    fields = [(name, field) for name, found in forms.items() for field in found]
    assert len(fields) >= 2 + 9 + 3
    unstyled = [
        f"{name} {f['name']}: {json.dumps(f)}"
        for name, f in fields
        if not (f["labelAbove"] and f["radius"] >= 4 and f["padding"] >= 6)
    ]
    assert unstyled == []
    tab.close()
