"""manage.py backfill_history [--keys K,K | --screener SLUG | --segment NSE_EQ] --tf 1d|1m
[--from YYYY-MM-DD] [--to YYYY-MM-DD]: DhanHQ's price history into the bar store within the
Data API limit (`history.backfill`), resuming where an earlier run stopped. Progress is a
line redrawn in place on a terminal, else a line every PROGRESS_EVERY instruments; then the
summary line. Bad arguments, missing credentials and an account DhanHQ refuses (no Data API
add-on, a bad token) are a plain error and exit code 1, never a traceback."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from tqdm import tqdm

from history.backfill import backfill
from history.backfillplan import BackfillError
from history.dataapi import DataApiNotConfigured

PROGRESS_EVERY = 50  # instruments, between plain progress lines


class Command(BaseCommand):
    help = (
        "Fetch DhanHQ's daily (1d) or 1-minute (1m) history of some instruments into the bar "
        "store, within the Data API limit; a re-run fetches only what is missing."
    )

    def add_arguments(self, parser) -> None:
        # Checked in handle, not by argparse: a bad argument is exit code 1, as the rest.
        parser.add_argument("--keys", default="", help="instrument keys, SEG:SID,SEG:SID")
        parser.add_argument("--screener", default="", help="a screener's latest rows (slug)")
        parser.add_argument("--segment", default="", help="every instrument of a segment")
        parser.add_argument("--tf", default="", help="1d (daily) or 1m (1-minute)")
        parser.add_argument(
            "--from", dest="first", default="", help="first day, YYYY-MM-DD (1d: a year back)"
        )
        parser.add_argument(
            "--to", dest="last", default="", help="last day, YYYY-MM-DD (1d: yesterday; 1m: today)"
        )

    def handle(self, *args, keys, screener, segment, tf, first, last, **options) -> None:
        if tf not in ("1d", "1m"):
            raise CommandError(f"--tf must be 1d or 1m, not {tf!r}")
        try:
            summary = backfill(
                timeframe=tf,
                keys=[k for k in keys.split(",") if k.strip()],
                screener=screener.strip(),
                segment=segment.strip(),
                first=_day("--from", first),
                last=_day("--to", last),
                progress=ProgressLine(self.stdout),
            )
        except (BackfillError, DataApiNotConfigured) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(summary.line())
        for error in summary.errors:
            self.stderr.write(f"failed: {error}")
        if summary.stopped:
            raise CommandError(summary.stopped)


def _day(option: str, text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(f"{option} must be a day, YYYY-MM-DD, not {text!r}") from None


class ProgressLine:
    """The backfill's progress callback: a bar redrawn in place on a terminal, else a
    plain line every PROGRESS_EVERY instruments and at the end."""

    def __init__(self, out: OutputWrapper) -> None:
        self._out = out
        self._terminal = out.isatty()
        self._bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._terminal:
            if self._bar is None:
                self._bar = tqdm(total=total, unit="instrument", file=self._out._out)
            self._bar.update(done - self._bar.n)
            if done == total:
                self._bar.close()
        elif done % PROGRESS_EVERY == 0 or done == total:
            self._out.write(f"fetched {done} of {total} instruments")
