"""Typed reads of environment variables, for settings.py (the one module that calls them)."""

import os


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


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
