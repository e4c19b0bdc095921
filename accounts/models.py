"""A user's DhanHQ broker accounts, and the API tokens of a user's scripts. The access
token is stored only encrypted (`accounts.crypto`); `token` decrypts it for the one place
that needs it (the order socket's login), `masked_token` is what pages and the admin show.
Of an API token only its SHA-256 is stored; `user_for_token` is the JSON API's check of
`Authorization: Token <key>` (`marketstream.api`)."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.utils import timezone

from accounts import crypto


class BrokerAccount(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        TOKEN_EXPIRED = "token_expired", "Token expired"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="broker_accounts"
    )
    client_id = models.CharField(max_length=32)
    label = models.CharField(max_length=64, blank=True)
    token_encrypted = models.TextField(help_text="Fernet ciphertext; never the token itself")
    token_hint = models.CharField(max_length=16, blank=True, help_text="masked: last 4 only")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_detail = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "client_id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "client_id"], name="one_account_per_client_id")
        ]

    def __str__(self) -> str:
        return f"{self.client_id} ({self.user})"

    def set_token(self, token: str) -> None:
        """Store a new token (encrypted) and make the account active again."""
        token = token.strip()
        if not token:
            raise ValueError("the access token is empty")
        self.token_encrypted = crypto.encrypt(token)
        self.token_hint = crypto.mask(token)
        self.status, self.status_detail = self.Status.ACTIVE, ""

    @property
    def token(self) -> str:
        return crypto.decrypt(self.token_encrypted)

    @property
    def masked_token(self) -> str:
        return self.token_hint or "••••••••"

    @property
    def token_expired(self) -> bool:
        return self.status == self.Status.TOKEN_EXPIRED


class ApiToken(models.Model):
    """A script's key to the JSON API (`Authorization: Token <key>`): only its SHA-256 is
    stored; the key is shown once, by `manage.py create_api_token`. (Made in `alerts`
    until the move to here, which kept every token: `accounts/migrations/0002`.)"""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    @staticmethod
    def digest_of(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, user: AbstractBaseUser) -> str:
        """A new key for `user` (called by `create_api_token`): returned once, never kept."""
        key = secrets.token_urlsafe(32)
        cls.objects.create(user=user, digest=cls.digest_of(key))
        return key


def user_for_token(key: str) -> AbstractBaseUser | None:
    """The active user whose API token this is (recording its use), or None. Called by the
    JSON API's token authentication (`marketstream.api`) for each request that has one."""
    token = ApiToken.objects.select_related("user").filter(digest=ApiToken.digest_of(key)).first()
    if token is None or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user
