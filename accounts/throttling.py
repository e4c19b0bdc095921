"""Login throttling's view of a client (django-axes calls `client_ip` for every sign-in):
the address the API's rate limits use, so one proxy setting serves both."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address: `RATELIMIT_IP_META_KEY`'s header behind a proxy (its first
    address), else the socket's peer."""
    meta_key = settings.RATELIMIT_IP_META_KEY or "REMOTE_ADDR"
    value = request.META.get(meta_key) or request.META.get("REMOTE_ADDR") or ""
    return value.split(",")[0].strip()
