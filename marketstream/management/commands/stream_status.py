"""manage.py stream_status [--json]: one row per stream."""

import json

from django.core.management.base import BaseCommand
from django.utils import timezone

from marketstream.models import Stream

COLUMNS = ("key", "state", "desired", "instruments", "heartbeat_age_s", "ticks", "last_error")


class Command(BaseCommand):
    help = "Show every stream: key, state, instruments, heartbeat age, ticks, last error."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, as_json: bool, **options):
        now = timezone.now()
        rows = [
            {
                "key": s.key,
                "state": s.state,
                "desired": s.desired_state,
                "instruments": s.instrument_count,
                "heartbeat_age_s": round((now - s.last_heartbeat).total_seconds(), 1)
                if s.last_heartbeat
                else None,
                "ticks": s.ticks_received,
                "last_error": s.last_error,
                "stopped_reason": s.stopped_reason,
                "reconnects": s.reconnects,
                "worker": f"{s.worker_host}:{s.worker_pid}" if s.worker_pid else "",
            }
            for s in Stream.objects.all()
        ]
        if as_json:
            self.stdout.write(json.dumps(rows, indent=1))
            return
        self.stdout.write("\t".join(c.upper() for c in COLUMNS))
        for row in rows:
            age = row["heartbeat_age_s"]
            self.stdout.write(
                "\t".join(
                    str(v)
                    for v in (
                        row["key"],
                        row["state"],
                        row["desired"],
                        row["instruments"],
                        "-" if age is None else f"{age:.0f}",
                        row["ticks"],
                        row["last_error"] or "-",
                    )
                )
            )
