"""manage.py start_stream --type swing|longterm [--ids] [--symbols] [--keys] [--mode]"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from prices.deployment import current
from streams.control import MarketClosedError, request_start
from streams.keys import StreamKeyError, build_stream_key, parse_stream_key


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


class Command(BaseCommand):
    help = "Start (or mark wanted) the stream for a screener type and instruments."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--type", required=True, dest="screener_type")
        parser.add_argument("--ids", help="instrument ids, comma-separated")
        parser.add_argument("--symbols", help="trading symbols, comma-separated")
        parser.add_argument("--keys", help="instrument keys SEG:ID, comma-separated")
        parser.add_argument("--mode", default=None, help="ticker, quote or full")
        parser.add_argument(
            "--when-open",
            action="store_true",
            help="if the market is closed, start the stream at the next open",
        )

    def handle(
        self,
        *args: str,
        screener_type: str,
        ids: str | None,
        symbols: str | None,
        keys: str | None,
        mode: str | None,
        when_open: bool,
        **options: object,
    ) -> None:
        try:
            id_list = [int(i) for i in _split(ids)]
        except ValueError:
            raise CommandError(f"--ids must be integers, got {ids!r}") from None
        try:
            key = build_stream_key(
                screener_type=screener_type, ids=id_list, symbols=_split(symbols), keys=_split(keys)
            )
            stream, message = request_start(
                spec=parse_stream_key(key),
                mode=mode or settings.DHANHQ_WS_MODE,
                # Embedded: the web process's beat starts it (this process would not outlive it)
                enqueue=not current().embedded,
                when_closed="wait" if when_open else "refuse",
            )
        except (StreamKeyError, MarketClosedError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(stream.key)
        self.stderr.write(message)
