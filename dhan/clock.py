"""DhanHQ's clocks: the market feed's LTT counts IST wall-clock seconds since 1970 (19,800 s
ahead of Unix time), while REST history timestamps are Unix seconds; Indian markets keep IST
all year (no daylight saving). Used by the simulator's feed and history, and by whatever
reads an LTT (the quote renderer, the candle builder)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

IST_OFFSET_SECONDS = 19_800  # +05:30
SECONDS_PER_DAY = 86_400
IST = timezone(timedelta(seconds=IST_OFFSET_SECONDS), "IST")
_UNIX_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def feed_ltt(unix_seconds: int) -> int:
    """The LTT a DhanHQ Ticker/Quote/Full packet carries for a trade at `unix_seconds`
    (the simulator's feed calls this for every packet)."""
    return unix_seconds + IST_OFFSET_SECONDS


def unix_from_ltt(ltt: int) -> int:
    """Unix seconds of a feed packet's LTT (IST wall-clock seconds since 1970)."""
    return ltt - IST_OFFSET_SECONDS


def ist_day(unix_seconds: float) -> date:
    """The IST calendar day of an instant."""
    return date.fromordinal(
        _UNIX_EPOCH_ORDINAL + int(unix_seconds + IST_OFFSET_SECONDS) // SECONDS_PER_DAY
    )


def ist_midnight(day: date) -> int:
    """Unix seconds of 00:00 IST of `day`: DhanHQ's timestamp of that day's daily bar."""
    return (day.toordinal() - _UNIX_EPOCH_ORDINAL) * SECONDS_PER_DAY - IST_OFFSET_SECONDS


def ist_datetime(unix_seconds: float) -> datetime:
    """An instant as an aware IST datetime (for messages and logs)."""
    return datetime.fromtimestamp(unix_seconds, UTC).astimezone(IST)
