"""manage.py run_web: daphne in this process, under a runtime of its own. In embedded mode
(no REDIS_URL: `prices.deployment`) the process also hosts the connections and a
supervision loop that starts wanted streams (beat's job otherwise)."""

from daphne.endpoints import build_endpoint_description_strings
from daphne.server import Server
from django.conf import settings
from django.core.management.base import BaseCommand

from marketstream.asgi import build_application
from marketstream.celery import app as celery_app
from marketstream.runtime import WebRuntime
from prices.deployment import current
from streams.control import request_start
from streams.keys import StreamKeyError, StreamSpec
from streams.records import end_leftovers
from streams.sources import stream_types

# A client that stops reading stops answering pings: daphne drops it after these, which
# bounds what an unread socket can hold (daphne has no send backpressure, daphne#170).
PING_INTERVAL_SECONDS = 10
PING_TIMEOUT_SECONDS = 20


class Command(BaseCommand):
    help = "Serve the ASGI app with daphne; embedded mode also runs the connections."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--demo-streams", action="store_true", help="want a stream for each sample screener"
        )

    def handle(self, *args, host, port, demo_streams, **options):
        embedded = current().embedded
        if embedded:
            ended = end_leftovers(reason="the web process that ran it exited without a stop")
            if ended:
                self.stdout.write(
                    f"{ended} streams left running by an earlier process: "
                    "ended; they start again now"
                )
        if demo_streams:
            self._want_demo_streams()
        runtime = WebRuntime(hosts_connections=embedded, celery_app=celery_app)
        runtime.start()
        self.stdout.write(f"serving on http://{host}:{port}/")
        self.stdout.flush()
        try:
            self._serve(runtime, host=host, port=port)
        finally:
            stopped = runtime.stop()
            self.stdout.write(f"stopped {stopped} streams")

    def _want_demo_streams(self) -> None:
        for screener_type in stream_types():  # every screener's, and the index strip
            try:
                stream, message = request_start(
                    spec=StreamSpec(screener_type), mode=settings.DHANHQ_WS_MODE, enqueue=False
                )
            except StreamKeyError as exc:
                self.stderr.write(f"{screener_type}: {exc}")
                continue
            self.stdout.write(f"{stream.key}: {message}")

    @staticmethod
    def _serve(runtime: WebRuntime, *, host: str, port: int) -> None:
        """daphne's server, as its command line builds it, on this runtime's app."""
        Server(
            application=build_application(runtime),
            endpoints=build_endpoint_description_strings(host=host, port=port),
            ping_interval=PING_INTERVAL_SECONDS,
            ping_timeout=PING_TIMEOUT_SECONDS,
        ).run()
