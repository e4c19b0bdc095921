"""manage.py stream_status [--json]: one row per stream, and a warning on standard error
when the exchange holiday calendar does not cover this year."""

import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from prices.calendar import coverage_warning
from streams.health import shown_states
from streams.models import Stream

COLUMNS = (
    "key",
    "state",
    "desired",
    "instruments",
    "heartbeat_age_s",
    "ticks",
    "malformed",
    "last_error",
)


def _row(stream: Stream, now: datetime, state: str) -> dict:
    beat = stream.last_heartbeat
    return {
        "key": stream.key,
        "kind": stream.kind,
        # worker_gone: a live row whose worker stopped renewing its lock, until a takeover;
        # idle: the depth socket while nobody watches depth
        "state": state,
        "desired": stream.desired_state,
        "instruments": stream.instrument_count,
        "heartbeat_age_s": round((now - beat).total_seconds(), 1) if beat else None,
        "ticks": stream.ticks_received,
        "malformed": stream.malformed_frames,
        "last_error": stream.last_error,
        "stopped_reason": stream.stopped_reason,
        "reconnects": stream.reconnects,
        # host:pid of the worker that runs it (or ran it last, while `worker_gone`)
        "worker": f"{stream.worker_host}:{stream.worker_pid}" if stream.worker_pid else "",
    }


class Command(BaseCommand):
    help = "Show every stream: key, state, instruments, heartbeat age, ticks, last error."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args: str, as_json: bool, **options: object) -> None:
        warning = coverage_warning()
        if warning:
            self.stderr.write(f"warning: {warning}")
        now = timezone.now()
        streams = list(Stream.objects.all())
        states = shown_states(streams)  # one round trip for every row's lock
        rows = [_row(s, now, states[s.key]) for s in streams]
        if as_json:
            self.stdout.write(json.dumps(rows, indent=1))
            return
        self.stdout.write("\t".join(c.upper() for c in COLUMNS))
        for row in rows:
            age = row["heartbeat_age_s"]
            values = [row[c] for c in COLUMNS]
            values[COLUMNS.index("heartbeat_age_s")] = "-" if age is None else f"{age:.0f}"
            values[COLUMNS.index("last_error")] = row["last_error"] or "-"
            self.stdout.write("\t".join(str(v) for v in values))
