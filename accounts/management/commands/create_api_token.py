"""manage.py create_api_token --user USERNAME: prints a new API token (shown once; only
its SHA-256 is stored) for `Authorization: Token <token>`."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiToken


class Command(BaseCommand):
    help = "Make an API token for a user's scripts (printed once)."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True)

    def handle(self, *args, user: str, **options):
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"no user {user!r}")
        self.stdout.write(ApiToken.issue(owner))
