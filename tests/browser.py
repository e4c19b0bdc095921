"""What the browser tests share (tests/screeners/test_browser.py, tests/test_pages_browser.py,
tests/test_socket_browser.py): a live site (the simulator and `run_web`, as `make run` has
them), Debian's Chromium under Playwright (the `browser` and `page` fixtures: a module
imports them), sign-in, screenshots into artifacts/screenshots/, and a record of what a
page complains about (console errors, failed requests, CSP violations)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Response, sync_playwright

from tests.conftest import (
    ROOT,
    ManagedProcess,
    free_port,
    manage,
    manage_env,
    simulator_args,
    wait_for_port,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}


@dataclass(frozen=True, slots=True)
class Site:
    url: str  # the web server, http://127.0.0.1:PORT
    simulator_rest: str  # where the simulator takes orders (DhanHQ's REST base)
    env: dict[str, str]  # the environment its processes run with, for more commands


@contextmanager
def live_site(tmp: Path, *, demo_streams: bool = False) -> Iterator[Site]:
    """A migrated database with the sample instruments, screeners and demo users, the
    simulator (4 ticks a second per instrument) and `run_web` on free ports, in debug mode
    (`/api/v1/ws_subscriptions` answers anyone). `demo_streams`: every screener's stream and
    the index strip's wanted from the start, as `make run` has it."""
    sim_port, rest_port, web_port = free_port(), free_port(), free_port()
    env = manage_env(
        DATABASE_URL=f"sqlite:///{tmp / 'pages.sqlite3'}",
        DEV_MODE="true",
        DHANHQ_FEED_URL=f"ws://127.0.0.1:{sim_port}",
        DHANHQ_CLIENT_ID="1000000001",
        DHANHQ_ACCESS_TOKEN="demo-token",
        LTP_BROADCAST_INTERVAL_MS="500",
        DJANGO_DEBUG="true",
        DHANHQ_API_URL=f"http://127.0.0.1:{rest_port}/v2",
        DHANHQ_DEPTH_FEED_URL=f"ws://127.0.0.1:{sim_port}/twentydepth",
        DHANHQ_ORDER_FEED_URL=f"ws://127.0.0.1:{sim_port}/orderupdate",
        DEPTH_IDLE_SECONDS="5",
    )
    for command in ("migrate", "load_instruments", "load_screeners", "demo_user"):
        manage(command, env=env)
    web = [sys.executable, "manage.py", "run_web", "--port", str(web_port)]
    procs = [
        ManagedProcess(simulator_args(sim_port, rest_port, rate=4), env=env, log=tmp / "sim.log")
    ]
    try:
        wait_for_port(sim_port, process=procs[0])
        web += ["--demo-streams"] if demo_streams else []
        procs.append(ManagedProcess(web, env=env, log=tmp / "web.log"))
        wait_for_port(web_port, process=procs[-1])
        yield Site(f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{rest_port}/v2", env)
    finally:
        for proc in reversed(procs):
            proc.stop()


# Registered under their `name` where a test module imports them (with noqa F401): a test's
# `page` argument then shadows no imported name.
@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(name="page")
def page_fixture(browser: Browser) -> Iterator[Page]:
    """A tab of its own (fresh cookies), 1280 by 900."""
    context = browser.new_context(viewport=VIEWPORT)
    yield context.new_page()
    context.close()


def sign_in(page: Page, site: Site, *, username: str, password: str, then: str) -> None:
    """Through the sign-in page, as a user would; lands on `then`."""
    page.goto(f"{site.url}/accounts/login/?next={then}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form button[type=submit]")
    page.wait_for_url(f"**{then}")


def until(page: Page, predicate: Callable[[], object], *, timeout: float, what: str) -> None:
    """Poll `predicate` while Playwright runs `page`'s events (it delivers them, to
    `page.on` listeners and routes, only inside its own calls: a bare sleep would starve
    them); fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        page.wait_for_timeout(50)


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Run in every document before its own scripts (Playwright's init scripts are not subject to
# the page's CSP): each violation of the policy, as the browser reports it to the page.
CSP_WATCH = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@dataclass
class Complaints:
    """Everything a page complained about since `watch`: console errors, uncaught
    exceptions, failed requests and HTTP errors (its favicon's included)."""

    seen: list[str] = field(default_factory=list)

    @classmethod
    def watch(cls, page: Page) -> Complaints:
        complaints = cls()
        page.add_init_script(CSP_WATCH)
        page.on("console", complaints._console)
        page.on("pageerror", lambda error: complaints.seen.append(f"uncaught: {error}"))
        page.on("requestfailed", lambda r: complaints.seen.append(f"failed: {r.url}"))
        page.on("response", complaints._response)
        return complaints

    def _console(self, message) -> None:
        if message.type == "error":
            self.seen.append(f"console: {message.text}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.seen.append(f"HTTP {response.status}: {response.url}")

    def of(self, page: Page) -> list[str]:
        """What was seen, and the CSP violations the page itself heard of."""
        return self.seen + [f"CSP: {v}" for v in page.evaluate("() => window.cspViolations")]
