"""Production defaults: DEBUG off refuses development settings, HTTPS is enforced unless
the operator says otherwise, `check --deploy` is clean with only the three settings an
operator must give, pages carry a Content-Security-Policy their own scripts satisfy, and
the JSON API answers a flood with 429 and Retry-After."""

from __future__ import annotations

import json
import re
import secrets
import subprocess

import pytest
from django.core.cache import cache
from django.test import Client

from prices.instruments import SAMPLE_SCRIP_MASTER
from tests.support import processes
from tests.support.screens import record_runs

SHOW = (
    "from django.test import Client; import json; "
    "r = Client().get('/no-such-page/', secure={secure}, **{headers}); "
    "print(json.dumps({{'status': r.status_code, 'headers': dict(r.headers)}}))"
)


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """manage.py with ONLY these variables (and PATH): what an operator would set."""
    return processes.run_manage(
        *args,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "marketstream.settings", **env},
        timeout=60,
    )


def production_env(**extra: str) -> dict[str, str]:
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "markets.example.com,testserver",
        "REDIS_URL": "redis://127.0.0.1:6379/0",  # never connected to by these commands
        **extra,
    }


@pytest.mark.e2e
@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"])
def test_debug_off_refuses_to_start_without_its_settings(missing):
    env = production_env()
    del env[missing]
    done = run_manage("check", **env)
    assert done.returncode != 0
    assert f"{missing} is not set" in done.stderr


@pytest.mark.e2e
def test_the_published_development_key_is_refused():
    from django.conf import settings

    done = run_manage("check", **production_env(DJANGO_SECRET_KEY=settings.DEVELOPMENT_SECRET_KEY))
    assert done.returncode != 0 and "development key" in done.stderr
    assert run_manage("check", DJANGO_DEBUG="true").returncode == 0  # development: fine


@pytest.mark.e2e
def test_check_deploy_is_clean_with_only_the_three_settings():
    done = run_manage("check", "--deploy", "--fail-level", "WARNING", **production_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def show(secure: bool, headers: dict | None = None, **env: str) -> dict:
    code = SHOW.format(secure=secure, headers=headers or {})
    done = run_manage("shell", "-v", "0", "-c", code, **production_env(REDIS_URL="", **env))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.e2e
def test_https_by_default_redirects_and_sends_hsts():
    plain = show(False)
    assert plain["status"] == 301
    assert plain["headers"]["Location"].startswith("https://")
    assert "max-age=31536000" in show(True)["headers"]["Strict-Transport-Security"]


@pytest.mark.e2e
def test_behind_a_tls_proxy_its_header_is_trusted_and_it_redirects():
    forwarded = show(False, {"headers": {"X-Forwarded-Proto": "https"}}, DJANGO_HTTPS="proxy")
    assert forwarded["status"] == 404  # served (a page that does not exist), not redirected
    assert "Strict-Transport-Security" in forwarded["headers"]
    assert show(False, DJANGO_HTTPS="proxy")["status"] == 404  # the proxy redirects, not us


@pytest.mark.django_db
def test_pages_carry_a_csp_that_their_own_markup_satisfies():
    from django.core.management import call_command

    call_command("load_instruments", str(SAMPLE_SCRIP_MASTER))
    record_runs()
    for path in ("/screeners/", "/screeners/swing", "/accounts/login/"):
        response = Client().get(path)
        assert response.status_code == 200, path
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        html = response.content.decode()
        inline = [
            tag
            for tag in re.findall(r"<script\b[^>]*>", html)
            if "src=" not in tag and "application/json" not in tag
        ]
        assert inline == [], f"{path}: inline scripts {inline}"
        assert not re.search(r"\sstyle=|\son[a-z]+=", html), f"{path}: inline style/handler"


@pytest.mark.django_db
def test_the_api_answers_a_flood_with_429_and_retry_after(settings):
    settings.API_RATE_LIMIT_PER_IP = "5/m"
    cache.clear()
    client = Client()
    answers = [client.get("/api/v1/current_prices?keys=NSE_EQ:2885") for _ in range(7)]
    assert [a.status_code for a in answers[:5]] == [200] * 5
    refused = answers[5]
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "too many requests" in refused.json()["error"]
    # Another address is not held back by the first one's flood.
    assert (
        client.get("/api/v1/current_prices?keys=NSE_EQ:2885", REMOTE_ADDR="10.0.0.9").status_code
        == 200
    )


@pytest.mark.django_db
def test_per_user_limits_count_a_users_requests_from_every_address(settings, django_user_model):
    settings.API_RATE_LIMIT_PER_USER = "3/m"
    cache.clear()
    user = django_user_model.objects.create_user("trader", password="pw-for-tests")
    client = Client()
    client.force_login(user)
    codes = [client.get("/api/v1/orders", REMOTE_ADDR=f"10.0.0.{i}").status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert Client().get("/api/v1/orders").status_code == 401  # anonymous: its own IP budget
