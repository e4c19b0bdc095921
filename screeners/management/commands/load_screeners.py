"""manage.py load_screeners: the bundled sample swing and longterm runs."""

from django.core.management.base import BaseCommand, CommandError

from screeners.samples import SampleError, load_sample_screeners


class Command(BaseCommand):
    help = "Load the bundled sample screener runs (needs the sample instruments)."

    def handle(self, *args, **options):
        try:
            runs = load_sample_screeners()
        except SampleError as exc:
            raise CommandError(str(exc)) from None
        for run in runs:
            self.stdout.write(f"loaded {run} with {run.results.count()} rows")
