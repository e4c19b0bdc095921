"""Redis clients for everything of ours that talks to Redis directly (price cache, pub/sub,
locks, depth interest, the alert evaluator's lock), from the one configured address.

`settings.REDIS_URL` is either a plain `redis://` URL or, when `REDIS_SENTINELS` is set,
`redis+sentinel://MASTER` (settings.py builds it): clients then ask the sentinels for the
current master on every new connection, so a failover costs the commands in flight (which
raise `redis.ConnectionError`; every caller already retries) and nothing else.
Channels, django-redis and Celery get the same sentinels through their own settings.
"""

from functools import lru_cache

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel://"
# Short timeouts: a dead master must be noticed in seconds, not minutes.
_TIMEOUTS = {"socket_timeout": 5, "socket_connect_timeout": 2}


def sentinel_url(master: str) -> str:
    return SENTINEL_SCHEME + master


def sentinel_master(url: str) -> str | None:
    """The master's name when `url` means "through the sentinels", else None."""
    return url[len(SENTINEL_SCHEME) :] if url.startswith(SENTINEL_SCHEME) else None


@lru_cache(maxsize=4)
def redis_client(url: str) -> redis.Redis:
    """One connection pool per address per process (hiredis parses replies when installed)."""
    master = sentinel_master(url)
    if master is None:
        return redis.Redis.from_url(url, health_check_interval=30, **_TIMEOUTS)
    sentinel = Sentinel(settings.REDIS_SENTINELS, sentinel_kwargs=dict(_TIMEOUTS), **_TIMEOUTS)
    return sentinel.master_for(master, health_check_interval=30)


def async_redis_client(url: str) -> aioredis.Redis:
    """A new asyncio client (the caller closes it with `aclose()`): one per event loop."""
    master = sentinel_master(url)
    if master is None:
        return aioredis.Redis.from_url(url, **_TIMEOUTS)
    sentinel = AsyncSentinel(settings.REDIS_SENTINELS, sentinel_kwargs=dict(_TIMEOUTS), **_TIMEOUTS)
    return sentinel.master_for(master)
