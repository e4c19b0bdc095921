"""manage.py run_web: daphne in this process; in embedded mode (no REDIS_URL) it also hosts
the feed threads and a supervision tick that starts wanted streams (beat's job otherwise)."""

import logging
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from marketstream.streamkeys import StreamKeyError, StreamSpec
from marketstream.streams import end_leftovers, request_start, supervise
from marketstream.supervisor import supervisor
from screeners.models import ScreenerType

logger = logging.getLogger(__name__)
SUPERVISE_INTERVAL_SECONDS = 5.0
# A client that stops reading stops answering pings: daphne drops it after these, which
# bounds what an unread socket can hold (daphne has no send backpressure, daphne#170).
DAPHNE_OPTIONS = ["--ping-interval", "10", "--ping-timeout", "20"]


class EmbeddedBeat:
    """Owner of the in-process supervision thread; `stop()` ends it and waits."""

    def __init__(self, interval_seconds: float) -> None:
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="embedded-beat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        from django.db import close_old_connections

        while not self._stop.is_set():
            close_old_connections()
            try:
                supervise()
            except Exception:  # one failed tick must not end supervision
                logger.exception("supervision tick failed")
            self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class Command(BaseCommand):
    help = "Serve the ASGI app with daphne; embedded mode also runs the feeds."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--demo-streams", action="store_true", help="want a stream for each sample screener"
        )

    def handle(self, *args, host, port, demo_streams, **options):
        from daphne.cli import CommandLineInterface

        if not settings.REDIS_URL:
            ended = end_leftovers(reason="the web process that ran it exited without a stop")
            if ended:
                self.stdout.write(
                    f"{ended} streams left running by an earlier process: "
                    "ended; they start again now"
                )
        if demo_streams:
            for screener_type in ScreenerType.values:
                try:
                    stream, message = request_start(
                        spec=StreamSpec(screener_type), mode=settings.DHANHQ_WS_MODE, enqueue=False
                    )
                except StreamKeyError as exc:
                    self.stderr.write(f"{screener_type}: {exc}")
                    continue
                self.stdout.write(f"{stream.key}: {message}")
        beat = EmbeddedBeat(SUPERVISE_INTERVAL_SECONDS) if not settings.REDIS_URL else None
        if beat:
            beat.start()
        self.stdout.write(f"serving on http://{host}:{port}/")
        self.stdout.flush()
        try:
            CommandLineInterface().run(
                ["-b", host, "-p", str(port), *DAPHNE_OPTIONS, "marketstream.asgi:application"]
            )
        finally:
            if beat:
                beat.stop()
            stopped = supervisor.stop_all_streams(reason="web process exiting")
            self.stdout.write(f"stopped {stopped} streams")
