"""After the close, on trading days (the `history.after_close` task; beat at 15:40 IST Monday
to Friday, holidays skipped here): for every instrument that streamed today, the day's `1d`
bar (`history.daybars`: the feed's QUOTE record, or DhanHQ's REST quote); then today's
`1m` bars in the store cross-checked against DhanHQ's `/charts/intraday`, missing and
different bars counted and repaired (DhanHQ's bars win); then 1-minute bars past the
retention dropped. "Streamed today": the streams' instruments (a source the project's
wiring registers, as streams live a layer above; every instrument when none is) with a
CANDLE or QUOTE record in the price cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from dhan.history import ChartInstrument, DataApiBusy, DataApiError, DataApiRefused, HistoryClient
from history import live, store
from history.dataapi import DataApiNotConfigured, data_api_client
from history.daybars import bar_from_feed, rest_day_bars
from history.timeframes import DAY, MINUTE, Bar
from prices.cache import QUOTE_KEY_PREFIX, price_store
from prices.calendar import IST, SESSION_CLOSE, is_trading_day
from prices.models import Instrument

logger = logging.getLogger(__name__)

CACHE_KEYS_PER_READ = 1000
MINUTE_SECONDS = 60

_STREAMED_KEYS: list[Callable[[], Iterable[str]]] = []


def register_stream_keys(source: Callable[[], Iterable[str]]) -> None:
    """Called once per process by the project's wiring as the apps load: `source()` gives
    the keys of every market-feed stream's instruments (the `Stream` rows)."""
    _STREAMED_KEYS[:] = [source]


@dataclass(frozen=True, slots=True)
class FeedRecords:
    """What the price cache holds of the day's trading, by key: QUOTE records (the
    price's TTL: gone soon after the close) and CANDLE records (kept 12 hours)."""

    quotes: dict[str, dict]
    candles: dict[str, dict]


@dataclass(slots=True)
class AfterCloseReport:
    """What the job did on `day`: `streamed` instruments, their day bars from the feed
    and from the REST quote (`unpriced`: neither had one), the minute cross-check
    (`checked` instruments; `missing`/`different` bars, all `repaired`; `failed` calls),
    and old minutes `purged`. `skipped` says why nothing ran."""

    day: str
    skipped: str = ""
    streamed: int = 0
    from_feed: int = 0
    from_rest: int = 0
    unpriced: int = 0
    checked: int = 0
    missing: int = 0
    different: int = 0
    repaired: int = 0
    failed: int = 0
    calls: int = 0
    stopped: str = ""  # why the cross-check ended early (no Data API, its limit)
    purged: int = 0


def run_after_close(
    *, now: datetime | None = None, client: HistoryClient | None = None, using: str = "default"
) -> AfterCloseReport:
    """The job, as beat runs it. `client` (the Data API) defaults to the configured one;
    without credentials the cross-check is skipped."""
    now = now or datetime.now(UTC)
    local = now.astimezone(IST)
    report = AfterCloseReport(local.date().isoformat())
    if not is_trading_day(local.date()):
        report.skipped = "not a trading day"
    elif local.time() < SESSION_CLOSE:
        report.skipped = "the session is not over"
    if report.skipped:
        logger.info("after-close job skipped on %s: %s", report.day, report.skipped)
        return report
    instruments, records = streamed_today(using=using)
    report.streamed = len(instruments)
    write_day_bars(instruments, records, day=local.date(), report=report, using=using)
    cross_check(
        instruments,
        day=local.date(),
        now=now.timestamp(),
        report=report,
        client=client,
        using=using,
    )
    report.purged = store.purge_old_minutes(now=now.timestamp(), using=using)
    logger.info("after-close job: %s", report)
    return report


def streamed_today(*, using: str = "default") -> tuple[list[Instrument], FeedRecords]:
    """The instruments that streamed today (see the module's docstring) and their QUOTE
    and CANDLE records."""
    if _STREAMED_KEYS:
        candidates = list(dict.fromkeys(_STREAMED_KEYS[0]()))
    else:
        candidates = [i.key for i in Instrument.objects.using(using)]
    records = FeedRecords({}, {})
    for i in range(0, len(candidates), CACHE_KEYS_PER_READ):
        part = candidates[i : i + CACHE_KEYS_PER_READ]
        records.quotes.update(price_store().read_records(QUOTE_KEY_PREFIX, part))
        records.candles.update(live.read_records(part))
    keys = [k for k in candidates if k in records.quotes or k in records.candles]
    return _instruments(keys, using=using), records


def _instruments(keys: Sequence[str], *, using: str) -> list[Instrument]:
    wanted = set(keys)
    ids = {int(k.partition(":")[2]) for k in keys}
    rows = Instrument.objects.using(using).filter(security_id__in=ids)
    by_key = {i.key: i for i in rows if i.key in wanted}
    return [by_key[k] for k in keys if k in by_key]


def write_day_bars(
    instruments: Sequence[Instrument],
    records: FeedRecords,
    *,
    day: date,
    report: AfterCloseReport,
    using: str,
) -> None:
    """Store `day`'s `1d` bar of each instrument: the feed's (its QUOTE record, or the
    forming day bar of its CANDLE record, kept longer), else the REST quote's."""
    bars: dict[str, Bar] = {}
    for row in instruments:
        quote, candle = records.quotes.get(row.key), records.candles.get(row.key)
        bar = bar_from_feed(quote, candle, day=day, tick_size=float(row.tick_size))
        if bar is not None:
            bars[row.key] = bar
    report.from_feed = len(bars)
    rest = rest_day_bars([i for i in instruments if i.key not in bars], day=day)
    report.from_rest = len(rest)
    bars.update(rest)
    report.unpriced = len(instruments) - len(bars)
    store.upsert_many(DAY, bars.items(), using=using)


def cross_check(
    instruments: Sequence[Instrument],
    *,
    day: date,
    now: float,
    report: AfterCloseReport,
    client: HistoryClient | None,
    using: str,
) -> None:
    """Today's stored minutes of each instrument against DhanHQ's: missing and different
    ones counted and replaced by DhanHQ's. DhanHQ refusing the account or its limit never
    letting up ends the check (`report.stopped`); other failures are counted. `client`:
    the configured one (made and closed here) unless given."""
    if client is not None:
        _check_all(client, instruments, day=day, now=now, report=report, using=using)
        return
    try:
        client = data_api_client()
    except DataApiNotConfigured as exc:
        report.stopped = str(exc)
        return
    try:
        _check_all(client, instruments, day=day, now=now, report=report, using=using)
    finally:
        client.close()


def _check_all(
    client: HistoryClient,
    instruments: Sequence[Instrument],
    *,
    day: date,
    now: float,
    report: AfterCloseReport,
    using: str,
) -> None:
    for row in instruments:
        target = ChartInstrument(row.instrument_key, row.instrument_type, float(row.tick_size))
        try:
            check_minutes(client, target, day=day, now=now, report=report, using=using)
        except (DataApiRefused, DataApiBusy) as exc:
            report.stopped = str(exc)
            break
        except DataApiError as exc:
            report.failed += 1
            logger.warning("after-close minute check of %s failed: %s", row.key, exc)
    report.calls = client.counts.calls


def check_minutes(
    client: HistoryClient,
    target: ChartInstrument,
    *,
    day: date,
    now: float,
    report: AfterCloseReport,
    using: str,
) -> None:
    """One instrument's minutes of `day`: DhanHQ's closed ones against the store's."""
    theirs = [Bar(*c) for c in client.minutes(target, first=day, last=day)]
    theirs = [b for b in theirs if b.t + MINUTE_SECONDS <= now]
    key = str(target.key)
    ours = {b.t: b for b in store.read(key, MINUTE, first=day, last=day, using=using)}
    missing = [b for b in theirs if b.t not in ours]
    different = [b for b in theirs if b.t in ours and ours[b.t] != b]
    report.checked += 1
    report.missing += len(missing)
    report.different += len(different)
    if missing or different:
        report.repaired += store.upsert(key, MINUTE, missing + different, using=using)
        logger.info(
            "%s: %d minutes missing, %d different from DhanHQ's: repaired",
            key,
            len(missing),
            len(different),
        )
