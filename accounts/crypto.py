"""Broker tokens encrypted at rest with `cryptography`'s Fernet (AES-128-CBC + HMAC).

`MARKETSTREAM_ENCRYPTION_KEY` holds one or more comma-separated Fernet keys: the first
encrypts, every one decrypts (`MultiFernet`), so a key is rotated by putting a new one
first and running `manage.py rotate_encryption_key`, then dropping the old one. Without
the setting, the demo and development (`DEV_MODE` or `DEBUG`) use a key generated once
into `var/demo-encryption.key` (mode 0600, never committed); anything else refuses.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEMO_KEY_FILE = Path(settings.BASE_DIR) / "var" / "demo-encryption.key"


class TokenUnreadable(Exception):
    """A stored token that no configured key opens (the key was lost or rotated away)."""


def _demo_key() -> bytes:
    if DEMO_KEY_FILE.exists():
        return DEMO_KEY_FILE.read_bytes().strip()
    DEMO_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(DEMO_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def _keys() -> list[bytes]:
    configured = [k.strip() for k in settings.MARKETSTREAM_ENCRYPTION_KEY.split(",") if k.strip()]
    if configured:
        return [k.encode() for k in configured]
    if settings.DEV_MODE or settings.DEBUG:
        return [_demo_key()]
    raise ImproperlyConfigured(
        "MARKETSTREAM_ENCRYPTION_KEY must be set to store broker tokens "
        '(generate one: python -c "from cryptography.fernet import Fernet; '
        'print(Fernet.generate_key().decode())")'
    )


@lru_cache(maxsize=4)
def _fernet(keys: tuple[bytes, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError:
        raise ImproperlyConfigured("MARKETSTREAM_ENCRYPTION_KEY holds a malformed key") from None


def fernet() -> MultiFernet:
    return _fernet(tuple(_keys()))


def encrypt(token: str) -> str:
    return fernet().encrypt(token.encode()).decode()


def decrypt(blob: str) -> str:
    try:
        return fernet().decrypt(blob.encode()).decode()
    except InvalidToken:
        raise TokenUnreadable("no configured key opens this token") from None


def encrypt_optional(secret: str) -> str:
    """A secret that may be empty (a webhook's, alerts' and screens'): "" stays ""."""
    return encrypt(secret) if secret else ""


def decrypt_optional(blob: str) -> str:
    return decrypt(blob) if blob else ""


def rotate(blob: str) -> str:
    """The same token under the first key."""
    try:
        return fernet().rotate(blob.encode()).decode()
    except InvalidToken:
        raise TokenUnreadable("no configured key opens this token") from None


def mask(token: str) -> str:
    """What may be shown of a token: its length and last four characters, never more."""
    if len(token) <= 8:
        return "•" * len(token)
    return "•" * 8 + token[-4:]
