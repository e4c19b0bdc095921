"""manage.py demo_user: the demo's users, made by `make run`: `demo` (password `demo`) with
the simulator's demo DhanHQ account linked and its order socket wanted, so the demo shows
orders, and `admin` (password `admin`), staff and superuser, so the demo reaches /admin/.
Refused unless DEV_MODE or DEBUG is on: a known password has no place in production. Users
already there are left as they are (their passwords too)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import linking
from accounts.models import BrokerAccount

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - the demo's published password, refused in production
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"  # noqa: S105 - the demo's published password, refused in production


class Command(BaseCommand):
    help = (
        "Create the demo users: demo/demo with the simulator's DhanHQ account linked, and "
        "admin/admin (staff, superuser). DEV_MODE or DEBUG only."
    )

    def handle(self, *args, **options):
        if not (settings.DEV_MODE or settings.DEBUG):
            raise CommandError("demo_user only runs with DEV_MODE or DEBUG on")
        if not (settings.DHANHQ_CLIENT_ID and settings.DHANHQ_ACCESS_TOKEN):
            raise CommandError("DHANHQ_CLIENT_ID and DHANHQ_ACCESS_TOKEN must be set")
        users = get_user_model().objects
        user = users.filter(username=DEMO_USERNAME).first()
        if user is None:
            user = users.create_user(DEMO_USERNAME, password=DEMO_PASSWORD)
        account = BrokerAccount.objects.filter(user=user).first()
        if account is None:
            account = BrokerAccount(user=user, client_id=settings.DHANHQ_CLIENT_ID, label="demo")
            account.set_token(settings.DHANHQ_ACCESS_TOKEN)
            account.save()
        linking.want_order_stream(account)  # its order socket, as linking it on the page asks
        self.stdout.write(
            f"demo user {DEMO_USERNAME!r} (password {DEMO_PASSWORD!r}) with DhanHQ account "
            f"{account.client_id}"
        )
        if not users.filter(username=ADMIN_USERNAME).exists():
            users.create_superuser(ADMIN_USERNAME, password=ADMIN_PASSWORD)
        self.stdout.write(
            f"admin user {ADMIN_USERNAME!r} (password {ADMIN_PASSWORD!r}) for /admin/"
        )
