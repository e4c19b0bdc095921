"""Health tells the truth in bad weather: Redis down, a year the holiday calendar does not
cover, malformed frames from upstream."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from prices import calendar
from streams.models import Stream
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db
URL = "/api/v1/health/market_stream"


def test_health_answers_json_with_status_error_while_redis_is_down(client, settings):
    settings.DEV_MODE = True
    settings.REDIS_URL = f"redis://:pw-in-url@127.0.0.1:{free_port()}/0"  # nothing listens
    response = client.get(URL)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "error" and "price cache unreachable" in body["error"]
    assert body["heartbeat_age_seconds"] is None and "pw-in-url" not in response.content.decode()


def test_a_year_the_holiday_calendar_does_not_cover_is_said_plainly(
    client, settings, monkeypatch, capsys
):
    settings.REDIS_URL = ""
    assert calendar.coverage_warning(datetime(2026, 11, 25, 6, tzinfo=UTC)) is None
    assert "provisional" in calendar.coverage_warning(datetime(2027, 3, 1, 6, tzinfo=UTC))
    uncovered = calendar.coverage_warning(datetime(2028, 1, 3, 6, tzinfo=UTC))
    assert "no data for 2028" in uncovered and "every weekday counts as a trading day" in uncovered
    monkeypatch.setattr(calendar, "covered_years", lambda: {})  # today's year not covered
    year = datetime.now(UTC).year
    assert f"no data for {year}" in client.get(URL).json()["calendar_warning"]
    call_command("stream_status")
    assert f"no data for {year}" in capsys.readouterr().err
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    assert f"no data for {year}" in client.get("/admin/streams/stream/").content.decode()


def test_malformed_frames_are_shown_in_stream_status_and_health(client, settings, capsys):
    settings.REDIS_URL = ""
    Stream.objects.create(key="type:swing", screener_type="swing", malformed_frames=3)
    assert client.get(URL).json()["streams"][0]["malformed_frames"] == 3
    call_command("stream_status", "--json")
    assert json.loads(capsys.readouterr().out)[0]["malformed"] == 3
    call_command("stream_status")
    table = capsys.readouterr().out.splitlines()
    assert (
        "MALFORMED" in table[0]
        and table[1].split("\t")[table[0].split("\t").index("MALFORMED")] == "3"
    )
