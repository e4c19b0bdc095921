"""What the browser tests share (tests/screeners/test_browser.py, tests/test_pages_browser.py,
tests/test_socket_browser.py): a live site (the simulator and `run_web`, as `make run` has
them, on a `Stack`), Debian's Chromium under Playwright (tests/conftest.py's `browser` and
`page` fixtures launch it), sign-in, waiting while Playwright delivers a page's events,
screenshots into artifacts/screenshots/, and a record of what a page complains about
(console errors, failed requests, CSP violations)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright, Response

from tests.support.processes import ROOT, require_e2e
from tests.support.stack import PREPARE_COMMANDS, SimulatorAddress, Stack
from tests.support.waiting import wait_until

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
SIMULATOR_TICKS_PER_SECOND = 4
PAGE_POLL_SECONDS = 0.05


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
    sim = SimulatorAddress.free()
    with Stack(
        tmp,
        sim=sim,
        rest=True,
        database="pages.sqlite3",
        LTP_BROADCAST_INTERVAL_MS="500",
        DJANGO_DEBUG="true",
        DEPTH_IDLE_SECONDS="5",
    ) as stack:
        stack.prepare(*PREPARE_COMMANDS, "demo_user")
        stack.simulator_process(rate=SIMULATOR_TICKS_PER_SECOND)
        web = stack.run_web(demo_streams=demo_streams)
        yield Site(web.url, f"http://127.0.0.1:{sim.rest_port}/v2", stack.env)


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless; called by tests/conftest.py's `browser` fixture."""
    require_e2e("chromium")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)


def sign_in(page: Page, site: Site, *, username: str, password: str, then: str) -> None:
    """Through the sign-in page, as a user would; lands on `then`."""
    page.goto(f"{site.url}/accounts/login/?next={then}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form button[type=submit]")
    page.wait_for_url(f"**{then}")


def until(page: Page, predicate: Callable[[], object], *, timeout: float, what: str) -> None:
    """`wait_until` while Playwright runs `page`'s events (it delivers them, to `page.on`
    listeners and routes, only inside its own calls: a bare sleep would starve them)."""
    wait_until(
        predicate,
        timeout=timeout,
        what=what,
        interval=PAGE_POLL_SECONDS,
        pause=lambda seconds: page.wait_for_timeout(seconds * 1000),
    )


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
