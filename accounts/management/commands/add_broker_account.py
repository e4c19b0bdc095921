"""manage.py add_broker_account --user USERNAME --client-id ID [--label L]

The access token comes from standard input (one line; piped or typed without echo) or
from DHANHQ_ACCESS_TOKEN, never from the command line, where `ps` and shell history
would keep it. It is checked with DhanHQ first (`accounts.linking`, refusals counted
against the user), and nothing is saved unless DhanHQ accepts it."""

from __future__ import annotations

import getpass
import os
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import linking
from accounts.models import BrokerAccount


class Command(BaseCommand):
    help = "Link a DhanHQ account (token from stdin or DHANHQ_ACCESS_TOKEN) to a user."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True)
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--label", default="")

    def handle(self, *args, user: str, client_id: str, label: str, **options):
        try:
            owner = get_user_model().objects.get(username=user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user {user!r}") from None
        if not client_id.isdigit():
            raise CommandError("a DhanHQ client id is digits only")
        token = self._read_token()
        try:
            linking.check_token(actor_id=owner.pk, client_id=client_id, token=token)
        except linking.LinkRefused as exc:
            raise CommandError(str(exc)) from None
        account = BrokerAccount.objects.filter(user=owner, client_id=client_id).first()
        created = account is None
        account = account or BrokerAccount(user=owner, client_id=client_id)
        account.set_token(token)  # saved once, with its token: never a row without one
        if label:
            account.label = label
        account.save()
        linking.want_order_stream(account)  # its order socket, wanted while the token is good
        verb = "linked" if created else "replaced the token of"
        self.stdout.write(f"{verb} {client_id} for {user} (token {account.masked_token})")

    @staticmethod
    def _read_token() -> str:
        if sys.stdin.isatty():
            token = getpass.getpass("DhanHQ access token: ")
        else:
            token = sys.stdin.readline()
        token = token.strip() or os.environ.get("DHANHQ_ACCESS_TOKEN", "").strip()
        if not token:
            raise CommandError("no token: pipe it on standard input or set DHANHQ_ACCESS_TOKEN")
        return token
