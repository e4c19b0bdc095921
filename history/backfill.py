"""Backfills of DhanHQ's price history into the bar store: each chunk of a plan
(`history.backfillplan`) fetched through the Data API and written with its `FetchedRange`
in one transaction, so a backfill killed halfway and run again fetches only what is
missing. Today is still moving: no range is recorded as fetched past yesterday, and only
closed bars are written. Callers: `manage.py backfill_history`, the `history.backfill`
task (the admin action queues it) and the demo (`run_demo`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import transaction

from dhan.history import DataApiBusy, DataApiError, DataApiRefused, HistoryClient
from history import store
from history.backfillplan import Chunk, Plan, day_range, plan_backfill, select_instruments
from history.dataapi import data_api_client
from history.models import FetchedRange
from history.timeframes import DAY, MINUTE, Bar, ist_day

logger = logging.getLogger(__name__)

FAILURES_IN_A_ROW_LIMIT = 10  # then DhanHQ (or the network) is down: stop, resume later
MINUTE_SECONDS = 60
MAX_ERRORS_KEPT = 10  # of a run's failed calls, for its summary


@dataclass(slots=True)
class Summary:
    """What a backfill did: `calls` counts HTTP requests (retries included),
    `rate_limited` the 429s met, `failed` the chunks left missing after an error,
    `stopped` why the run ended early (None when it ran to the end)."""

    timeframe: str
    instruments: int = 0
    skipped: int = 0
    calls: int = 0
    chunks: int = 0
    bars: int = 0
    failed: int = 0
    rate_limited: int = 0
    unsupported: int = 0
    elapsed_seconds: float = 0.0
    stopped: str | None = None
    refused: bool = False  # DhanHQ refused the account (no Data API, a bad token)
    errors: list[str] = field(default_factory=list)  # the first MAX_ERRORS_KEPT

    def line(self) -> str:
        unsupported = f", {self.unsupported} without history" if self.unsupported else ""
        return (
            f"backfill {self.timeframe}: {self.instruments} instruments, {self.calls} calls, "
            f"{self.bars} bars written, {self.skipped} skipped (already fetched){unsupported}, "
            f"{self.failed} failed, {self.rate_limited} rate-limited (429), "
            f"{self.elapsed_seconds:.1f} s"
        )


Progress = Callable[[int, int], None]  # (instruments done, instruments to fetch)


def run_backfill(
    client: HistoryClient,
    plan: Plan,
    *,
    now: float | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    using: str = "default",
) -> Summary:
    """Fetch and store every chunk of `plan`. A chunk that fails is counted and left
    missing; DhanHQ refusing the account, its limit never letting up, too many failures
    in a row or `should_stop` end the run early (`Summary.stopped` says why)."""
    started = time.monotonic()
    summary = Summary(
        plan.timeframe,
        instruments=plan.instruments,
        skipped=plan.skipped,
        unsupported=plan.unsupported,
    )
    try:
        _fetch_all(client, plan, summary, now=now, progress=progress, stop=should_stop, using=using)
    except (DataApiRefused, DataApiBusy) as exc:
        summary.stopped, summary.refused = str(exc), isinstance(exc, DataApiRefused)
    summary.calls, summary.rate_limited = client.counts.calls, client.counts.rate_limited
    summary.elapsed_seconds = time.monotonic() - started
    logger.info("%s%s", summary.line(), f"; stopped: {summary.stopped}" if summary.stopped else "")
    return summary


def _fetch_all(
    client: HistoryClient,
    plan: Plan,
    summary: Summary,
    *,
    now: float | None,
    progress: Progress | None,
    stop: Callable[[], bool] | None,
    using: str,
) -> None:
    failures_in_a_row = 0
    for done, chunks in enumerate(plan.chunks, 1):
        for chunk in chunks:
            if stop is not None and stop():
                summary.stopped = "stopped on request"
                return
            try:
                summary.bars += fetch_chunk(client, chunk, plan.timeframe, now=now, using=using)
            except (DataApiRefused, DataApiBusy):
                raise
            except DataApiError as exc:
                failures_in_a_row += 1
                summary.failed += 1
                if len(summary.errors) < MAX_ERRORS_KEPT:
                    summary.errors.append(str(exc))
                logger.warning("backfill %s of %s failed: %s", plan.timeframe, chunk, exc)
                if failures_in_a_row >= FAILURES_IN_A_ROW_LIMIT:
                    raise DataApiBusy(f"{failures_in_a_row} failures in a row: {exc}") from exc
                continue
            failures_in_a_row = 0
            summary.chunks += 1
        if progress is not None:
            progress(done, len(plan.chunks))


def fetch_chunk(
    client: HistoryClient, chunk: Chunk, timeframe: str, *, now: float | None, using: str
) -> int:
    """One call, its closed bars written and its days up to yesterday recorded as
    fetched, together (one transaction). Returns how many bars were written."""
    now = time.time() if now is None else now
    today = ist_day(int(now))
    fetch = client.daily if timeframe == DAY else client.minutes
    candles = fetch(chunk.instrument, first=chunk.first, last=chunk.last)
    width = MINUTE_SECONDS if timeframe == MINUTE else 86_400
    bars = [Bar(*c) for c in candles if c.t + width <= now]  # closed bars only
    key, through = str(chunk.instrument.key), min(chunk.last, today - timedelta(days=1))
    with transaction.atomic(using=using):
        written = store.upsert(key, timeframe, bars, using=using)
        if chunk.first <= through:
            FetchedRange.objects.using(using).create(
                key=key, timeframe=timeframe, first_day=chunk.first, last_day=through, bars=written
            )
    return written


def backfill(
    *,
    timeframe: str,
    keys: Sequence[str] = (),
    screener: str = "",
    segment: str = "",
    first: date | None = None,
    last: date | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    now: float | None = None,
    using: str = "default",
) -> Summary:
    """A whole backfill, as the command, the task and the demo ask for one: the
    instruments of `keys`, `screener` or `segment`, the days `first`..`last` (defaults:
    `backfillplan.day_range`), fetched with the configured credentials. Raises
    BackfillError for a request that names nothing valid and DataApiNotConfigured
    without credentials; DhanHQ's refusals end the run (`Summary.stopped`)."""
    now = time.time() if now is None else now
    client = data_api_client()
    try:
        rows = select_instruments(keys=keys, screener=screener, segment=segment, using=using)
        first, last = day_range(timeframe, today=ist_day(int(now)), first=first, last=last)
        plan = plan_backfill(rows, timeframe=timeframe, first=first, last=last, using=using)
        return run_backfill(
            client, plan, now=now, progress=progress, should_stop=should_stop, using=using
        )
    finally:
        client.close()
