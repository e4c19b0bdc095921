"""DEBUG is off unless DJANGO_DEBUG=true: a web process started without it never shows
Django's debug page, which would print settings (the Redis URL and its password)."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.support.processes import free_port, manage, manage_env

pytestmark = pytest.mark.e2e
PASSWORD = "redis-pw-never-shown"


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - 127.0.0.1
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_debug_is_off_unless_asked_for():
    show = "from django.conf import settings; print(settings.DEBUG)"
    for env, expected in ((manage_env(), "False"), (manage_env(DJANGO_DEBUG="true"), "True")):
        assert manage("shell", "-v", "0", "-c", show, env=env, timeout=60).strip() == expected


def test_errors_get_no_debug_page_without_django_debug(make_stack):
    stack = make_stack(
        database="never-migrated.sqlite3",  # every query fails
        redis_url=f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0",
    )
    port = stack.daphne().port
    for path, status in (("/screeners/swing", 500), ("/no/such/page", 404)):
        code, body = fetch(f"http://127.0.0.1:{port}{path}")
        assert code == status, body[:500]
        for leak in ("Traceback", "DEBUG = True", PASSWORD, "URLconf", "REDIS_URL"):
            assert leak not in body, f"{path} shows {leak!r}"
