"""What a backfill of DhanHQ's price history covers: the instruments (keys, a screener's
latest rows, a whole segment), the days (`1d` up to yesterday: today's daily bar is the
after-close job's; `1m` up to today's closed minutes), and the ranges each instrument still
misses, given what earlier runs recorded as fetched (`FetchedRange`): `1d` one call per
missing range, `1m` in 90-day chunks. Used by `history.backfill` and its callers (the
command, the task, the demo).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings

from dhan.history import INSTRUMENT_TYPES, INTRADAY_MAX_DAYS, ChartInstrument
from dhan.segments import SEGMENT_CODES, InstrumentKey, InstrumentKeyError
from history.models import FetchedRange
from history.timeframes import DAY, MINUTE
from prices.models import Instrument

DEFAULT_DAILY_DAYS = 365  # `1d` without --from: a year back
KEYS_PER_QUERY = 500  # well under SQLite's bound on query parameters

# A screener's latest rows, by slug, for `--screener`: screeners live a layer above, so
# the project's wiring registers the source as the apps load (`marketstream.apps`).
ScreenerSource = Callable[[str], Iterable[Instrument]]
_SCREENER_SOURCE: list[ScreenerSource] = []


class BackfillError(ValueError):
    """A backfill that names nothing valid (instruments, timeframe, days); the message
    says what, for the command's plain error."""


def register_screener_source(source: ScreenerSource) -> None:
    """Called once per process by the project's wiring as the apps load: `source(slug)`
    gives a screener's latest rows, or raises LookupError saying why there are none."""
    _SCREENER_SOURCE[:] = [source]


def select_instruments(
    *,
    keys: Sequence[str] = (),
    screener: str = "",
    segment: str = "",
    using: str = "default",
) -> list[Instrument]:
    """The instruments of exactly one of `keys`, `screener` (a slug) or `segment`."""
    if sum(map(bool, (keys, screener, segment))) != 1:
        raise BackfillError("name the instruments: one of --keys, --screener or --segment")
    if keys:
        return _by_keys(keys, using=using)
    if segment:
        if segment not in SEGMENT_CODES:
            raise BackfillError(f"unknown segment {segment!r}: use {', '.join(SEGMENT_CODES)}")
        rows = list(Instrument.objects.using(using).filter(exchange_segment=segment))
        if not rows:
            raise BackfillError(f"no {segment} instrument in the table: load_instruments first")
        return rows
    if not _SCREENER_SOURCE:
        raise BackfillError("this process knows no screeners (the apps' wiring registers them)")
    try:
        return list(_SCREENER_SOURCE[0](screener))
    except LookupError as exc:
        raise BackfillError(str(exc)) from None


def _by_keys(keys: Sequence[str], *, using: str) -> list[Instrument]:
    try:
        wanted = list(dict.fromkeys(InstrumentKey.parse(k) for k in keys))
    except InstrumentKeyError as exc:
        raise BackfillError(str(exc)) from None
    rows = Instrument.objects.using(using).filter(security_id__in={k.security_id for k in wanted})
    by_key = {i.key: i for i in rows}
    missing = [str(k) for k in wanted if str(k) not in by_key]
    if missing:
        raise BackfillError(f"unknown instrument keys: {', '.join(missing)}")
    return [by_key[str(k)] for k in wanted]


def day_range(
    timeframe: str, *, today: date, first: date | None = None, last: date | None = None
) -> tuple[date, date]:
    """The days to backfill, both included: `1d` up to yesterday (a year back unless
    told), `1m` up to today's closed minutes (HISTORY_INTRADAY_RETENTION_DAYS back)."""
    if timeframe not in (DAY, MINUTE):
        raise BackfillError(f"timeframe {timeframe!r}: backfills fetch 1d or 1m")
    newest = today - timedelta(days=1) if timeframe == DAY else today
    last = min(last or newest, newest)
    back = DEFAULT_DAILY_DAYS if timeframe == DAY else settings.HISTORY_INTRADAY_RETENTION_DAYS
    first = first or last - timedelta(days=back)
    if first > last:
        raise BackfillError(
            f"nothing to fetch from {first} to {last} ({timeframe} bars go up to {newest})"
        )
    return first, last


@dataclass(frozen=True, slots=True)
class Chunk:
    """One call's days, both included."""

    instrument: ChartInstrument
    first: date
    last: date


@dataclass(frozen=True, slots=True)
class Plan:
    """What a backfill will fetch: per instrument (in order), its missing chunks."""

    timeframe: str
    chunks: list[list[Chunk]]  # one list per instrument that misses anything
    instruments: int
    skipped: int  # instruments with nothing missing
    unsupported: int = 0  # instruments of a type DhanHQ keeps no history of


def missing_ranges(
    fetched: Iterable[tuple[date, date]], first: date, last: date
) -> list[tuple[date, date]]:
    """The days of `first`..`last` that no fetched range covers, as ranges."""
    gaps, cursor = [], first
    for start, end in sorted(fetched):
        if start > cursor:
            gaps.append((cursor, min(start - timedelta(days=1), last)))
        cursor = max(cursor, end + timedelta(days=1))
        if cursor > last:
            break
    if cursor <= last:
        gaps.append((cursor, last))
    return [(a, b) for a, b in gaps if a <= b]


def plan_backfill(
    instruments: Sequence[Instrument],
    *,
    timeframe: str,
    first: date,
    last: date,
    using: str = "default",
) -> Plan:
    """The calls a backfill of `first`..`last` needs, given what was fetched before."""
    fetched = _fetched([i.key for i in instruments], timeframe, first, last, using=using)
    chunks: list[list[Chunk]] = []
    known = [i for i in instruments if i.instrument_type in INSTRUMENT_TYPES]
    for row in known:
        target = ChartInstrument(row.instrument_key, row.instrument_type, float(row.tick_size))
        gaps = missing_ranges(fetched.get(row.key, ()), first, last)
        if timeframe == MINUTE:
            gaps = [piece for gap in gaps for piece in _split(gap, INTRADAY_MAX_DAYS)]
        if gaps:
            chunks.append([Chunk(target, a, b) for a, b in gaps])
    unsupported = len(instruments) - len(known)
    return Plan(timeframe, chunks, len(instruments), len(known) - len(chunks), unsupported)


def _split(gap: tuple[date, date], days: int) -> list[tuple[date, date]]:
    start, end = gap
    pieces = []
    while start <= end:
        pieces.append((start, min(end, start + timedelta(days=days - 1))))
        start += timedelta(days=days)
    return pieces


def _fetched(
    keys: list[str], timeframe: str, first: date, last: date, *, using: str
) -> dict[str, list[tuple[date, date]]]:
    out: dict[str, list[tuple[date, date]]] = {}
    for i in range(0, len(keys), KEYS_PER_QUERY):
        rows = FetchedRange.objects.using(using).filter(
            key__in=keys[i : i + KEYS_PER_QUERY],
            timeframe=timeframe,
            first_day__lte=last,
            last_day__gte=first,
        )
        for key, start, end in rows.values_list("key", "first_day", "last_day"):
            out.setdefault(key, []).append((start, end))
    return out
