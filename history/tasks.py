"""The history app's Celery tasks: `history.backfill` (queued by the Instrument admin's
"Backfill history" action, or by hand) and `history.after_close` (beat, 15:40 IST Monday to
Friday; the job itself skips holidays). Thin: each calls one function and returns its
summary as a dict."""

from __future__ import annotations

import dataclasses
import logging
from datetime import date

from celery import shared_task

from history.afterclose import run_after_close
from history.backfill import backfill
from history.backfillplan import BackfillError
from history.dataapi import DataApiNotConfigured

logger = logging.getLogger(__name__)


@shared_task(name="history.backfill")
def backfill_task(
    *,
    timeframe: str,
    keys: list[str] | None = None,
    screener: str = "",
    segment: str = "",
    first: str = "",
    last: str = "",
) -> dict:
    """Run by a worker when the admin action (or anyone) queues a backfill: the keys,
    screener or segment given, days as YYYY-MM-DD (empty: the defaults)."""
    try:
        summary = backfill(
            timeframe=timeframe,
            keys=keys or (),
            screener=screener,
            segment=segment,
            first=date.fromisoformat(first) if first else None,
            last=date.fromisoformat(last) if last else None,
        )
    except (BackfillError, DataApiNotConfigured, ValueError) as exc:
        logger.error("history backfill not run: %s", exc)
        return {"error": str(exc)}
    return dataclasses.asdict(summary)


@shared_task(name="history.after_close")
def after_close_task() -> dict:
    """Run by beat after the close on weekdays: the day's bars (`history.afterclose`)."""
    return dataclasses.asdict(run_after_close())
