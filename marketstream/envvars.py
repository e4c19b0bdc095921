"""Typed reads of environment variables, and the production refusal, for settings.py (the
one module that calls them)."""

import os

from django.core.exceptions import ImproperlyConfigured


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def env_str(name: str, default: str) -> str:
    """The variable stripped, or `default` when unset or blank."""
    return os.environ.get(name, "").strip() or default


def env_host_ports(name: str) -> list[tuple[str, int]]:
    """`host:port,host:port` -> [(host, port), ...] (REDIS_SENTINELS)."""
    pairs = []
    for item in (v.strip() for v in os.environ.get(name, "").split(",")):
        if item:
            host, _, port = item.rpartition(":")
            pairs.append((host.strip("[]"), int(port)))
    return pairs


def env_list(name: str) -> list[str]:
    """`a,b,c` -> ["a", "b", "c"], blanks dropped (WEBHOOK_ALLOWED_HOSTS)."""
    return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]


def require_production_settings(*, secret_key: str, development_key: str) -> None:
    """With DEBUG off: DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS set, and the key not the
    development one published with the source; ImproperlyConfigured says what to do."""
    missing = [n for n in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS") if not os.environ.get(n)]
    if missing:
        raise ImproperlyConfigured(
            f"DEBUG is off (production) and {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: set them, or DJANGO_DEBUG=true "
            "for development"
        )
    if secret_key == development_key:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is the development key published with the source: generate "
            "one (python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
