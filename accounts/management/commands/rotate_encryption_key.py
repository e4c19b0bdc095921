"""manage.py rotate_encryption_key: re-encrypt every stored broker token under the first
key of MARKETSTREAM_ENCRYPTION_KEY (put the new key first, keep the old one after it,
run this, then drop the old key)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import crypto
from accounts.models import BrokerAccount


class Command(BaseCommand):
    help = "Re-encrypt every broker token under the first configured key."

    def handle(self, *args, **options):
        done = failed = 0
        with transaction.atomic():
            for account in BrokerAccount.objects.select_for_update():
                try:
                    account.token_encrypted = crypto.rotate(account.token_encrypted)
                except crypto.TokenUnreadable:
                    failed += 1
                    self.stderr.write(f"{account.client_id}: no configured key opens its token")
                    continue
                account.save(update_fields=["token_encrypted"])
                done += 1
        self.stdout.write(f"re-encrypted {done} tokens; {failed} unreadable")
