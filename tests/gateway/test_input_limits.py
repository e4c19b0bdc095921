"""HTTP request bodies and errors under `/api/`: a body over DATA_UPLOAD_MAX_MEMORY_SIZE is
413 JSON, deep JSON never an HTML page, and any error Django answers for an `/api/` path
is JSON `{"error": ...}` (gateway/jsonerrors.py, marketstream/api.py); other paths
keep Django's pages."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from prices.clientjson import ClientJsonError

pytestmark = pytest.mark.django_db

TOO_BIG = {"error": "the body is larger than 2,621,440 bytes"}  # Django's 2.5 MB default


@pytest.fixture
def trader(django_user_model):
    return django_user_model.objects.create_user("trader", password="not-used-here-1")


def is_json_error(response) -> bool:
    return response["Content-Type"] == "application/json" and "error" in response.json()


@pytest.mark.parametrize("debug", [False, True])
def test_a_3_mb_alert_body_is_413_json(client, settings, trader, debug):
    settings.DEBUG = debug  # the API's own handler: JSON with Django's debug pages on too
    client.force_login(trader)
    body = json.dumps({"key": "NSE_EQ:2885", "note": "x" * 3_000_000})
    response = client.post("/api/v1/alerts", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == TOO_BIG


def test_a_form_body_over_the_limit_read_by_the_csrf_check_is_413_json(settings):
    # No view reads this one: the CSRF check does, and Django's error view (handler400)
    # answers; the same request to a page keeps Django's HTML page.
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "a" * 32
    body = {"csrfmiddlewaretoken": "a" * 32, "pad": "x" * 3_000_000}
    response = client.post("/api/v1/ws_subscriptions", body)
    assert response.status_code == 413 and response.json() == TOO_BIG
    page = client.post("/accounts/login/", body)
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")


def test_deep_json_in_an_alert_body_is_answered_in_json(trader):
    client = Client(raise_request_exception=False)
    client.force_login(trader)
    deep = "[" * 1000 + "]" * 1000  # 2 KB: the standard parser's RecursionError, a 500 page
    response = client.post("/api/v1/alerts", deep, content_type="application/json")
    assert response.status_code >= 400 and is_json_error(response), response.content[:200]


def test_an_unhandled_exception_under_api_is_a_json_500(monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("marketstream.api.market_health", broken)
    response = Client(raise_request_exception=False).get("/api/v1/health/market_stream")
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error"}


def test_a_host_not_allowed_is_a_json_400_under_api():
    response = Client().get("/api/v1/health/market_stream", HTTP_HOST="evil.example")
    assert response.status_code == 400 and response.json() == {"error": "bad request"}


def test_not_found_is_json_under_api_and_a_page_elsewhere():
    client = Client()
    for path in ("/api/v1/no_such_thing", "/api/v1/ws_subscriptions"):  # no route; Http404
        response = client.get(path)
        assert response.status_code == 404 and is_json_error(response), path
    page = client.get("/no/such/page")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_a_failed_csrf_check_is_json_under_api_with_the_projects_failure_view():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/v1/ws_subscriptions", {"a": "b"})
    assert response.status_code == 403 and is_json_error(response)
    assert "CSRF cookie not set" in response.json()["error"]
    page = client.post("/accounts/login/", {"username": "u", "password": "p"})
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


def test_api_bodies_declared_by_operations_parse_as_client_json(rf):
    from marketstream.api import ClientJsonParser  # here: the API module imports every app

    request = rf.post("/api/v1/x", "[" * 40 + "]" * 40, content_type="application/json")
    with pytest.raises(ClientJsonError, match="nested deeper than 32 levels"):
        ClientJsonParser().parse_body(request)
