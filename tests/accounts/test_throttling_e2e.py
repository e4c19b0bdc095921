"""Login throttling across web processes: two real daphne processes on one database (and
the session's redis-server, as the full stack has it). Failed sign-ins spread over both
add up, and the lockout holds on both, the right password refused while it lasts."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

pytestmark = pytest.mark.e2e

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
LIMIT = 5  # LOGIN_FAILURE_LIMIT's default, set explicitly for the processes below


class Browser:
    """One visitor on one web process: cookies kept, no redirects followed."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirects()
        )

    def request(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        data = None if form is None else urllib.parse.urlencode(form).encode()
        try:
            with self.opener.open(self.base + path, data=data, timeout=20) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def sign_in(self, username: str, password: str) -> tuple[int, str]:
        """GET the login page for its CSRF token, then POST the credentials."""
        status, page = self.request("/accounts/login/")
        assert status == 200, page
        token = CSRF_INPUT.search(page).group(1)
        form = {"csrfmiddlewaretoken": token, "username": username, "password": password}
        return self.request("/accounts/login/", form)

    def has_session(self) -> bool:
        return any(cookie.name == "sessionid" for cookie in self.jar)


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 302 comes back as an HTTPError with its status


@pytest.fixture
def web_ports(make_stack, redis_url) -> list[int]:
    stack = make_stack(
        redis_url=redis_url,
        DHANHQ_WS_ENABLED="false",
        LOGIN_FAILURE_LIMIT=str(LIMIT),
        LOGIN_LOCKOUT_MINUTES="15",
    )
    stack.prepare("migrate --noinput")  # axes' tables included
    stack.create_user("alice", "pw-alice")
    return [web.port for web in stack.daphnes(2)]


def test_failures_on_two_web_processes_add_up_and_the_lockout_holds_on_both(web_ports):
    first, second = Browser(web_ports[0]), Browser(web_ports[1])
    answers = [
        (first if i % 2 == 0 else second).sign_in("alice", f"guess-{i}")[0] for i in range(LIMIT)
    ]
    # neither process saw LIMIT failures itself: only a shared count locks on the last one
    assert answers == [200] * (LIMIT - 1) + [429]
    for browser in (Browser(web_ports[1]), Browser(web_ports[0])):
        status, page = browser.sign_in("alice", "pw-alice")  # the right password
        assert status == 429 and "Too many failed sign-ins" in page
        assert "Try again in 15 minutes" in page
        assert not browser.has_session()
