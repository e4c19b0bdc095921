"""Market hours at their edges: 09:15-15:30 IST, Monday to Friday, less holidays."""

from datetime import datetime

import pytest

from prices.calendar import IST, market_is_open, next_open, session_is_open


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (ist(2026, 11, 23, 9, 14, 59), False),
        (ist(2026, 11, 23, 9, 15, 0), True),
        (ist(2026, 11, 23, 15, 29, 59), True),
        (ist(2026, 11, 23, 15, 30, 0), False),
        (ist(2026, 11, 21, 11, 0, 0), False),  # a Saturday
        (ist(2026, 11, 22, 11, 0, 0), False),  # a Sunday
        (ist(2026, 11, 24, 11, 0, 0), False),  # Guru Nanak Jayanti, an exchange holiday
        (ist(2026, 11, 25, 11, 0, 0), True),
    ],
)
def test_session_edges(settings, moment, is_open):
    settings.DEV_MODE = False
    assert session_is_open(moment) is is_open
    assert market_is_open(moment) is is_open


def test_utc_times_are_read_in_ist(settings):
    settings.DEV_MODE = False
    assert market_is_open(datetime.fromisoformat("2026-11-23T03:45:00+00:00"))  # 09:15 IST
    assert not market_is_open(datetime.fromisoformat("2026-11-23T03:44:59+00:00"))


def test_dev_mode_opens_the_market_at_any_time(settings):
    settings.DEV_MODE = True
    assert market_is_open(ist(2026, 11, 21, 3, 0, 0))
    assert not session_is_open(ist(2026, 11, 21, 3, 0, 0))


def test_next_open_skips_weekends_and_holidays():
    assert next_open(ist(2026, 11, 23, 15, 30, 0)) == ist(2026, 11, 25, 9, 15, 0)
    assert next_open(ist(2026, 11, 21, 10, 0, 0)) == ist(2026, 11, 23, 9, 15, 0)
    assert next_open(ist(2026, 11, 23, 8, 0, 0)) == ist(2026, 11, 23, 9, 15, 0)


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        session_is_open(datetime(2026, 11, 23, 10, 0))
