"""The one embedded-or-Redis seam. A deployment is either embedded (one process: the Django
cache and in-process books, the in-memory channel layer, Celery tasks run eagerly) or
shared through Redis (every web process and worker); `current()` says which, from
`settings.REDIS_URL`, read here and nowhere else in the code (settings.py sets it, and
prices/redisconn.py makes the clients). Code that differs between the two asks the
deployment for what it needs (a Redis client, or None when embedded) instead of reading
settings itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
import redis.asyncio as aioredis
from django.conf import settings

from prices.redisconn import async_redis_client, redis_client


@dataclass(frozen=True, slots=True)
class Deployment:
    redis_url: str  # empty: embedded

    @property
    def embedded(self) -> bool:
        """One process: nothing is shared, every loop and connection lives here."""
        return not self.redis_url

    def redis(self) -> redis.Redis | None:
        """The process's shared client (one pool per address), or None when embedded."""
        return redis_client(self.redis_url) if self.redis_url else None

    def async_redis(self) -> aioredis.Redis | None:
        """A new asyncio client (the caller closes it), or None when embedded."""
        return async_redis_client(self.redis_url) if self.redis_url else None


def current() -> Deployment:
    """This process's deployment, read at call time (tests change settings)."""
    return Deployment(settings.REDIS_URL)
