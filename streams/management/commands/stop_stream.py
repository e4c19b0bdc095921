"""manage.py stop_stream KEY | --all"""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from streams.control import request_stop, request_stop_all


class Command(BaseCommand):
    help = "Stop a stream (or all): its feed thread notices within seconds, in any worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key", nargs="?")
        parser.add_argument("--all", action="store_true", dest="stop_all")

    def handle(self, *args: str, key: str | None, stop_all: bool, **options: object) -> None:
        if stop_all == bool(key):
            raise CommandError("give a stream KEY or --all (not both)")
        if not key:  # so --all was given (the check above)
            self.stdout.write(f"stop requested for {request_stop_all()} streams")
            return
        if not request_stop(key):
            raise CommandError(f"no stream {key!r} (see stream_status)")
        self.stdout.write(f"stop requested for {key}")
