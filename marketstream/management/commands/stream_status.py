"""manage.py stream_status: one row per stream."""
from django.core.management.base import BaseCommand
from django.utils import timezone

from marketstream.models import Stream


class Command(BaseCommand):
    help = "Show every stream: key, state, instruments, heartbeat age, ticks, last error."

    def handle(self, *args, **options):
        now = timezone.now()
        self.stdout.write("KEY\tSTATE\tDESIRED\tINSTRUMENTS\tHEARTBEAT_AGE_S\tTICKS\tLAST_ERROR")
        for s in Stream.objects.all():
            age = f"{(now - s.last_heartbeat).total_seconds():.0f}" if s.last_heartbeat else "-"
            self.stdout.write(
                f"{s.key}\t{s.state}\t{s.desired_state}\t{s.instrument_count}\t{age}\t"
                f"{s.ticks_received}\t{s.last_error or '-'}"
            )
