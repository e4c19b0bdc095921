"""The screen editor in headless Chromium (issue 22, items 4 and 5) against a live site in
embedded mode whose bar store holds daily bars from the simulator's price model: a
condition typed with a mistake shows the error and its position as it is typed, before any
save; fixed, with a column added, "Save and run now" (refused first for a bad universe,
said beside it) lands on the results page with the run's rows; saved again, the screen is
changed in place; and a run with new entrants toasts once in an open page, a re-run on unchanged
bars not at all. Screenshots: artifacts/screenshots/screen-editor-error.png and
screen-results.png."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from screeners.pages import DEFAULT_PER_PAGE
from tests.support.browser import (
    SIMULATOR_TICKS_PER_SECOND,
    Complaints,
    Site,
    screenshot,
    sign_in,
    until,
)
from tests.support.screens import SEED_COMMAND
from tests.support.stack import PREPARE_COMMANDS, SimulatorAddress, Stack

pytestmark = pytest.mark.e2e

BAD_CONDITION = "close > smaa(close, 20)"
BAD_AT = 8  # where `smaa` starts
CONDITION = "close > 0 and volume > 0"  # every instrument with a bar
RANK_BY = "change_pct(close, 20)"
TOAST_NAMES = 5  # static/js/toasts.js names this many entrants
# Each toast as it is added, kept in sessionStorage so that it outlives a navigation.
TOAST_RECORDER = """
new MutationObserver((changes) => changes.forEach((change) => change.addedNodes.forEach(
  (node) => {
    if (node.parentElement?.id !== "toasts") return;
    const seen = JSON.parse(sessionStorage.getItem("toasts") || "[]");
    seen.push([node.className, node.textContent]);
    sessionStorage.setItem("toasts", JSON.stringify(seen));
  }))).observe(document, {childList: true, subtree: true});
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Site]:
    """`make run`'s site, its database seeded with daily bars and runs of the shipped
    screens (tests/support/screens.py), the demo user signed up."""
    sim = SimulatorAddress.free()
    with Stack(
        tmp_path_factory.mktemp("editor"),
        sim=sim,
        rest=True,
        database="editor.sqlite3",
        DJANGO_DEBUG="true",
    ) as stack:
        stack.prepare(*PREPARE_COMMANDS, SEED_COMMAND, "demo_user")
        stack.simulator_process(rate=SIMULATOR_TICKS_PER_SECOND)
        web = stack.run_web()
        yield Site(web.url, f"http://127.0.0.1:{sim.rest_port}/v2", stack.env)


def check_box(page: Page, selector: str) -> dict:
    """A checked field's problem box: shown, its message, caret text and position."""
    return page.eval_on_selector(
        selector,
        """(input) => {
          const box = input.closest(".js-checked").querySelector(".js-check");
          return {shown: !box.hidden, message: box.querySelector(".js-message").textContent,
                  caret: box.querySelector(".js-caret").textContent,
                  position: box.dataset.position};
        }""",
    )


def api(page: Page, live: Site, path: str) -> dict:
    """GET /api/v1/`path` as the page's signed-in user."""
    answer = page.request.get(f"{live.url}/api/v1/{path}")
    assert answer.ok, answer.text()
    return answer.json()


def screen_named(page: Page, live: Site, slug: str) -> dict:
    return next(s for s in api(page, live, "screens")["screens"] if s["slug"] == slug)


def browser_complaints(complaints: Complaints, page: Page) -> list[str]:
    """What the page complained about, less the screens API's 400s (its answer to the
    mistakes the test makes, which Chromium also logs as failed resources)."""
    return [
        c
        for c in complaints.of(page)
        if not (c.startswith("HTTP 400: ") and "/api/v1/screens" in c)
        and "status of 400 (Bad Request)" not in c
    ]


def wait_check(page: Page, selector: str, *, shown: bool, what: str) -> dict:
    """The live check's box under `selector`'s field, once it is shown (or hidden)."""
    until(page, lambda: check_box(page, selector)["shown"] == shown, timeout=10, what=what)
    return check_box(page, selector)


def add_column(page: Page, name: str, *, mistake: str, expression: str) -> None:
    """A column typed with a `mistake` (its error shows under it), then corrected."""
    page.click("#add-column")
    row = page.locator("#screen-columns .js-column").last
    row.locator(".js-column-name").fill(name)
    row.locator(".js-column-expression").fill(mistake)
    selector = "#screen-columns .js-column:last-child .js-column-expression"
    wait_check(page, selector, shown=True, what="the column's error")
    row.locator(".js-column-expression").fill(expression)
    wait_check(page, selector, shown=False, what="the column checked")


def test_a_screen_typed_with_a_mistake_is_checked_live_fixed_saved_and_run(live, page):
    complaints = Complaints.watch(page)
    sent: list[str] = []  # the page's writes to the screens API, as "METHOD URL"
    page.on("request", lambda r: sent.append(f"{r.method} {r.url}") if r.method != "GET" else 0)
    sign_in(page, live, username="demo", password="demo", then="/screeners/new")
    page.fill("#screen-name", "Editor e2e")
    page.locator("#screen-condition").press_sequentially(BAD_CONDITION, delay=20)
    until(
        page,
        lambda: "smaa" in check_box(page, "#screen-condition")["message"],
        timeout=10,
        what="the condition's error",
    )
    shown = check_box(page, "#screen-condition")
    assert shown["shown"] and shown["position"] == str(BAD_AT)
    assert shown["message"].startswith("unknown function 'smaa'")
    assert shown["caret"] == f"{BAD_CONDITION}\n{' ' * BAD_AT}^"
    assert page.get_attribute("#screen-condition", "aria-invalid") == "true"
    assert [s for s in sent if "/api/v1/screens/check" not in s and "/api/" in s] == []
    assert screenshot(page, "screen-editor-error").stat().st_size > 10_000

    page.fill("#screen-condition", CONDITION)
    wait_check(page, "#screen-condition", shown=False, what="the condition checked")
    add_column(page, "momentum", mistake="change_pct(close)", expression=RANK_BY)
    page.fill("#screen-rank-by", RANK_BY)
    page.fill("#screen-universe", "segment:NOPE")
    page.click("#screen-save-run")  # refused: the API's message beside the universe
    universe_error = page.locator("[data-error-for=universe]")
    universe_error.wait_for(timeout=10_000)
    assert "unknown segment 'NOPE'" in universe_error.inner_text()
    assert page.url.endswith("/screeners/new")

    page.fill("#screen-universe", "segment:NSE_EQ")
    page.click("#screen-save-run")
    page.wait_for_url("**/screeners/editor-e2e", timeout=30_000)
    screen = screen_named(page, live, "editor-e2e")
    assert [s for s in sent if "/api/v1/screens/check" not in s and "/api/" in s] == [
        f"POST {live.url}/api/v1/screens",  # refused
        f"POST {live.url}/api/v1/screens",
        f"POST {live.url}/api/v1/screens/{screen['id']}/run",
    ]
    assert screen["columns"] == {"momentum": RANK_BY} and screen["rank_by"] == RANK_BY
    answer = api(page, live, f"screens/{screen['id']}/results")
    shown_keys = page.eval_on_selector_all(
        "#screener-table tbody tr.js-row", "rows => rows.map(r => r.dataset.instrumentKey)"
    )
    assert answer["run"]["matched"] > 0
    assert len(shown_keys) == min(answer["run"]["matched"], DEFAULT_PER_PAGE)
    assert shown_keys == [row["key"] for row in answer["rows"]][:DEFAULT_PER_PAGE]
    assert page.locator("#screener-table tbody tr.js-row.entered").count() == len(shown_keys)
    assert page.locator(f"#screener-table th[title='{RANK_BY}']").count() == 1  # the column
    assert screenshot(page, "screen-results").stat().st_size > 10_000
    assert browser_complaints(complaints, page) == []


def test_new_entrants_toast_once_and_a_rerun_on_unchanged_bars_does_not(live, page):
    page.add_init_script(TOAST_RECORDER)
    frames: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(json.loads(f))))
    sign_in(page, live, username="demo", password="demo", then="/screeners/new")
    page.fill("#screen-name", "Toast e2e")
    page.fill("#screen-condition", CONDITION)
    page.check("#screen-notify")
    page.click("#screen-save")
    page.wait_for_url("**/screeners/toast-e2e/edit")  # the page now edits what it made
    assert "Saved." in page.inner_text("#screen-status")
    page.fill("#screen-limit", "60")
    with page.expect_response(lambda r: r.request.method == "PATCH") as changed:
        page.click("#screen-save")  # saved again: the same screen, changed
    assert changed.value.status == 200 and changed.value.json()["screen"]["limit"] == 60
    until(
        page,
        lambda: any(f.get("action") == "subscribe_orders" for f in frames),
        timeout=20,
        what="the page's socket up for this user",
    )
    token = page.input_value("[name=csrfmiddlewaretoken]")
    screen = screen_named(page, live, "toast-e2e")
    assert screen["notify"] == {"on": "entered", "webhook": None, "email": False}
    results = f"screens/{screen['id']}/results"

    def run() -> dict:
        queued = page.request.post(
            f"{live.url}/api/v1/screens/{screen['id']}/run", headers={"X-CSRFToken": token}
        )
        assert queued.status == 202, queued.text()
        wanted = queued.json()["run_id"]
        until(
            page,
            lambda: (api(page, live, results)["run"] or {}).get("id", 0) >= wanted,
            timeout=20,
            what="the run done",
        )
        return api(page, live, results)

    first = run()
    symbols = [row["symbol"] for row in first["rows"] if row["key"] in set(first["entered"])]
    assert len(symbols) > TOAST_NAMES
    toast = page.locator("#toasts .toast.screen_entered")
    toast.wait_for(timeout=10_000)
    assert toast.inner_text() == (
        f"Toast e2e: {len(symbols)} new — {', '.join(symbols[:TOAST_NAMES])}"
        f" and {len(symbols) - TOAST_NAMES} more"
    )
    second = run()
    assert second["entered"] == [] and second["run"]["id"] > first["run"]["id"]
    page.wait_for_timeout(2000)  # what the second run would have pushed has arrived by now
    pushed = [f for f in frames if f.get("type") == "screen_entered"]
    assert [(f["screen"], f["run_id"]) for f in pushed] == [("toast-e2e", first["run"]["id"])]
    shown = page.evaluate("() => JSON.parse(sessionStorage.getItem('toasts') || '[]')")
    assert [name for name, _ in shown if "screen_entered" in name] == ["toast screen_entered"]
