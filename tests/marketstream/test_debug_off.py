"""DEBUG is off unless DJANGO_DEBUG=true: a web process started without it never shows
Django's debug page, which would print settings (the Redis URL and its password)."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request

from tests.conftest import ROOT, ManagedProcess, free_port, manage_env, wait_for_port

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
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", show],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert done.stdout.strip() == expected


def test_errors_get_no_debug_page_without_django_debug(tmp_path, processes):
    port = free_port()
    env = manage_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}",  # every query fails
        REDIS_URL=f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0",
    )
    web = ManagedProcess(
        [sys.executable, "-m", "daphne", "-p", str(port), "marketstream.asgi:application"],
        env=env,
        log=tmp_path / "web.log",
    )
    processes.append(web)
    wait_for_port(port)
    for path, status in (("/screeners/swing", 500), ("/no/such/page", 404)):
        code, body = fetch(f"http://127.0.0.1:{port}{path}")
        assert code == status, body[:500]
        for leak in ("Traceback", "DEBUG = True", PASSWORD, "URLconf", "REDIS_URL"):
            assert leak not in body, f"{path} shows {leak!r}"
