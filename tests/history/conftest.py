"""Fixtures of the history tests: the database each bar-store test runs on (SQLite, and
the real PostgreSQL the session's fixtures start), and DhanHQ's history as a throttling
stub (tests/support/historystub.py) the settings point at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.historystub import ACCESS_TOKEN, CLIENT_ID, HistoryStub


@pytest.fixture(params=["default", "pg"])
def using(request) -> str:
    """The database alias: a test using it is marked `django_db(databases=[..., "pg"])`."""
    return request.param


@pytest.fixture
def stub(settings) -> Iterator[HistoryStub]:
    """DhanHQ's Data API as a stub (5 calls a second; 5 minutes a session day), with the
    stub's credentials configured."""
    server = HistoryStub(session_minutes=5).start()
    settings.DHANHQ_API_URL = server.url
    settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN = CLIENT_ID, ACCESS_TOKEN
    yield server
    server.stop()
