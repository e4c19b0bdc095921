"""manage.py load_instruments [PATH]: DhanHQ scrip-master CSV (plain or gzipped; the bundled
one by default) into Instrument rows."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from prices.instruments import SCRIP_MASTER, ScripMasterError, load_scrip_master

MAX_REPORTED_SKIPS = 20


class Command(BaseCommand):
    help = (
        "Load DhanHQ's compact scrip master CSV, plain or gzipped (default: the bundled "
        "file, NSE and BSE equities and indices)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default=str(SCRIP_MASTER))

    def handle(self, *args: str, path: str, **options: object) -> None:
        try:
            report = load_scrip_master(path)
        except ScripMasterError as exc:
            raise CommandError(str(exc)) from None
        for skipped in report.skipped[:MAX_REPORTED_SKIPS]:
            self.stderr.write(f"line {skipped.line}: skipped: {skipped.reason}")
        if len(report.skipped) > MAX_REPORTED_SKIPS:
            self.stderr.write(f"... and {len(report.skipped) - MAX_REPORTED_SKIPS} more")
        self.stdout.write(
            f"loaded {report.loaded} instruments ({report.created} new), "
            f"skipped {len(report.skipped)} bad rows"
        )
