"""A user's DhanHQ broker accounts. The access token is stored only encrypted
(`accounts.crypto`); `token` decrypts it for the one place that needs it (the order
socket's login), `masked_token` is what pages and the admin show."""

from __future__ import annotations

from django.conf import settings
from django.db import models

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
