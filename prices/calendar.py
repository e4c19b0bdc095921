"""NSE/BSE market hours: the regular session, 09:15 to 15:30 Asia/Kolkata, Monday to
Friday, less exchange holidays (a bundled, dated list: data/exchange_holidays.json, which
says which years it covers; `coverage_warning` tells when today's is not one of them).

`DEV_MODE` makes the market always open, for the demo and development.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings

IST = ZoneInfo("Asia/Kolkata")
SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)  # the close itself is outside the session
HOLIDAYS_FILE = Path(__file__).resolve().parent / "data" / "exchange_holidays.json"


@lru_cache(maxsize=1)
def _holiday_file() -> dict:
    return json.loads(HOLIDAYS_FILE.read_text())


@lru_cache(maxsize=1)
def exchange_holidays() -> dict[date, str]:
    return {date.fromisoformat(day): name for day, name in _holiday_file()["holidays"].items()}


def covered_years() -> dict[int, str]:
    """Years the holiday list covers, with how firmly ("final" or "provisional")."""
    return {int(year): status for year, status in _holiday_file()["years"].items()}


def coverage_warning(now: datetime | None = None) -> str | None:
    """A plain sentence when the holiday list does not cover today's year (every weekday
    then counts as a trading day) or covers it only provisionally; None when it is final."""
    year = _ist(now).year
    status = covered_years().get(year)
    if status is None:
        return (
            f"the exchange holiday calendar has no data for {year}: every weekday counts as "
            f"a trading day until {HOLIDAYS_FILE.name} lists {year}'s holidays"
        )
    if status != "final":
        return f"the exchange holidays for {year} are {status}: check them against NSE's list"
    return None


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in exchange_holidays()


def _ist(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("market hours need an aware datetime")
    return now.astimezone(IST)


def session_is_open(now: datetime | None = None) -> bool:
    """True during the regular session, whatever DEV_MODE says."""
    local = _ist(now)
    return is_trading_day(local.date()) and SESSION_OPEN <= local.time() < SESSION_CLOSE


def market_is_open(now: datetime | None = None) -> bool:
    """The market as streams see it: always open in DEV_MODE."""
    return bool(settings.DEV_MODE) or session_is_open(now)


def order_feed_is_open(now: datetime | None = None) -> bool:
    """The hours of the order-update sockets: ORDER_FEED_START to ORDER_FEED_END IST on
    trading days (wider than the session: pre-open orders, post-close expiries); always
    in DEV_MODE."""
    if settings.DEV_MODE:
        return True
    local = _ist(now)
    start = time.fromisoformat(settings.ORDER_FEED_START)
    end = time.fromisoformat(settings.ORDER_FEED_END)
    return is_trading_day(local.date()) and start <= local.time() < end


def next_open(now: datetime | None = None) -> datetime:
    """The start of the next regular session at or after `now` (IST)."""
    local = _ist(now)
    day = local.date()
    if local.time() >= SESSION_OPEN:
        day += timedelta(days=1)
    while not is_trading_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, SESSION_OPEN, tzinfo=IST)
