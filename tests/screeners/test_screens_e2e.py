"""Screens end to end, against a real daphne (`run_web`, embedded: Celery runs tasks in the
web process), the simulator as a process and Debian's Chromium: the shipped swing screen
over bars backfilled from the simulator's Data API shows its computed rows, whose prices
tick; a user's screen's new entrants raise one toast and one signed webhook, and a re-run
over unchanged bars neither. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import re
import threading
import urllib.request
from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from prices.instruments import SAMPLE_SCRIP_MASTER, LoadReport, read_scrip_master
from tests.support.browser import screenshot, sign_in, until
from tests.support.stack import SimulatorAddress, Stack

pytestmark = pytest.mark.e2e

WEBHOOK_SECRET = "e2e-hook-secret"
BACKFILLED = 20


class Receiver(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[dict, bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.seen.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    sim = SimulatorAddress.free()
    with Stack(
        tmp_path_factory.mktemp("screens"),
        sim=sim,
        rest=True,
        database="screens.sqlite3",
        DJANGO_DEBUG="true",
        LTP_BROADCAST_INTERVAL_MS="500",
        WEBHOOK_ALLOWED_HOSTS="127.0.0.1",  # the test's receiver
    ) as stack:
        stack.prepare("migrate --noinput", f"load_instruments {SAMPLE_SCRIP_MASTER}", "demo_user")
        stack.simulator_process(rate=4)
        first = (date.today() - timedelta(days=730)).isoformat()
        stack.manage(
            "backfill_history", "--tf", "1d", "--keys", ",".join(backfilled()), "--from", first,
            timeout=120,
        )  # fmt: skip
        table = stack.manage("run_screen", "swing")
        web = stack.run_web()
        token = stack.manage("create_api_token", "--user", "demo").strip().split()[-1]
        yield web.url, table, token


def backfilled() -> list[str]:
    """The NSE stocks whose daily bars the stack backfills (of the sample's 53: a screen
    over the segment leaves the others out for want of bars). 20 calls: about 5 s."""
    with open(SAMPLE_SCRIP_MASTER, newline="") as lines:
        rows = list(read_scrip_master(lines, LoadReport()))
    return [i.key for i in rows if i.exchange_segment == "NSE_EQ"][:BACKFILLED]


def api(url: str, token: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(  # noqa: S310 (our own http URL)
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return json.loads(answer.read() or b"{}")


def test_swing_shows_rows_computed_from_backfilled_bars_and_its_prices_tick(site, page):
    url, table, _ = site
    summary = re.search(r"swing: (\d+) of (\d+) matched", table)
    assert summary, table
    matched, universe = int(summary[1]), int(summary[2])
    assert universe == 53 and 0 < matched <= BACKFILLED  # the sample's NSE EQ-series stocks
    page.goto(f"{url}/screeners/swing")
    assert page.locator("tr.js-row").count() == matched
    assert f"{matched} of {universe} stocks matched" in page.inner_text(".js-run-summary")
    first_symbol = page.locator("tr.js-row").first.get_attribute("data-symbol")
    assert re.search(rf"^\s*1\s+{first_symbol}\s", table, re.M)  # the command's rank 1
    headers = page.locator("#screener-table thead th").all_inner_texts()
    shown = {h.strip().lower() for h in headers}  # the style sets headings in capitals
    assert {"close", "change 20d %", "rsi 14", "volume ratio"} <= shown
    texts = page.locator(".js-ltp-cell").all_inner_texts()
    page.wait_for_function(
        f"() => [...document.querySelectorAll('.js-ltp-cell')].some("
        f"(c, i) => c.textContent.trim() !== {json.dumps(texts)}[i] && c.textContent !== '—')",
        timeout=20_000,
    )
    assert screenshot(page, "screen-results-swing").stat().st_size > 10_000


def test_a_new_entrant_raises_one_toast_and_one_signed_webhook_and_a_rerun_none(site, page):
    url, _, token = site
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.seen = []
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    key = backfilled()[0]  # a stock with bars: `close > 0` holds for it
    frames: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(json.loads(f))))
    try:
        screen = api(f"{url}/api/v1/screens", token, {
            "name": "Above zero", "universe": f"keys:{key}",
            "condition": "close > 0", "columns": {"close": "close"},
            "notify": {"on": "entered", "email": False,
                       "webhook": {"url": hook, "secret": WEBHOOK_SECRET}},
        })["screen"]  # fmt: skip
        site_url = SimpleNamespace(url=url)
        sign_in(page, site_url, username="demo", password="demo", then="/screeners/")
        until(
            page,
            lambda: any(f.get("action") == "subscribe_orders" for f in frames),
            timeout=20,
            what="the page's socket up for this user",
        )
        run = api(f"{url}/api/v1/screens/{screen['id']}/run", token, {})
        page.wait_for_selector(".toast", timeout=10_000)
        until(page, lambda: Receiver.seen, timeout=10, what="the webhook")
        headers, body = Receiver.seen[0]
        mac = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-MarketStream-Signature"] == f"sha256={mac}"
        sent = json.loads(body)
        assert sent["run_id"] == run["run_id"] and [e["key"] for e in sent["entered"]] == [key]
        assert headers["X-MarketStream-Event"] == sent["event_id"]
        toast = page.locator(".toast").first.inner_text()
        assert "Above zero" in toast and sent["entered"][0]["symbol"] in toast
        again = api(f"{url}/api/v1/screens/{screen['id']}/run", token, {})
        results = api(f"{url}/api/v1/screens/{screen['id']}/results", token)
        assert results["run"]["id"] == again["run_id"] and results["entered"] == []
        page.wait_for_timeout(2000)  # what the re-run would have pushed has arrived by now
        assert page.locator(".toast").count() <= 1 and len(Receiver.seen) == 1
        assert sum(f.get("type") == "screen_entered" for f in frames) == 1
    finally:
        server.shutdown()
