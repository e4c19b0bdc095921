"""manage.py run_screen SLUG: run a screen now, in this process, and print its result table
(rank, symbol, the screen's columns, the rank value), with what entered and left."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from screeners.models import Screen, ScreenRun
from screeners.runs import run_now

MISSING = "—"


class Command(BaseCommand):
    help = "Run a screen now and print its results."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--forming", action="store_true", help="include today's forming bars (live candles)"
        )

    def handle(self, *args: str, slug: str, forming: bool, **options: object) -> None:
        screen = Screen.objects.filter(slug=slug).first()
        if screen is None:
            known = ", ".join(Screen.objects.values_list("slug", flat=True)[:20])
            raise CommandError(f"no screen {slug!r} (screens: {known})")
        run = run_now(screen, forming=forming)
        if run.state != ScreenRun.State.DONE:
            raise CommandError(run.error or f"the run ended {run.state}")
        self._table(screen, run)

    def _table(self, screen: Screen, run: ScreenRun) -> None:
        names = list(screen.columns)
        rows = run.rows.select_related("instrument").order_by("rank")
        header = ["#", "symbol", *names, "rank"]
        lines = [
            [str(r.rank), r.instrument.trading_symbol, *(_cell(r.columns.get(n)) for n in names),
             _cell(r.rank_value)]
            for r in rows
        ]  # fmt: skip
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
        for line in [header, *lines]:
            cells = [line[0].rjust(widths[0]), line[1].ljust(widths[1])]
            cells += [c.rjust(w) for c, w in zip(line[2:], widths[2:], strict=True)]
            self.stdout.write("  ".join(cells).rstrip())
        as_of = f"{run.bars_as_of:%Y-%m-%d %H:%M}" if run.bars_as_of else "no bars"
        self.stdout.write(
            f"{screen.slug}: {run.matched} of {run.universe_size} matched (bars as of {as_of},"
            f" {run.duration_ms} ms); entered {len(run.entered)}, left {len(run.exited)}"
        )


def _cell(value: float | None) -> str:
    return MISSING if value is None else f"{value:,.2f}"
