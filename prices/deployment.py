"""The one embedded-or-Redis seam. A deployment is either embedded (one process: the Django
cache and in-process books, the in-memory channel layer, Celery tasks run eagerly) or
shared through Redis (every web process and worker); `current()` says which, from
`settings.REDIS_URL`, read here and nowhere else in the code (settings.py sets it, and
prices/redisconn.py makes the clients).

What differs between the two is chosen here, once per use, by `choose()` (or
`choose_async()`): a module names its two implementations (the price store, the depth
interest, the leader's lease, the price-batch source) and never branches itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from prices.redisconn import async_redis_client, redis_client

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Deployment:
    redis_url: str  # empty: embedded

    @property
    def embedded(self) -> bool:
        """One process: nothing is shared, every loop and connection lives here."""
        return not self.redis_url

    def redis(self) -> Redis | None:
        """The process's shared client (one pool per address), or None when embedded."""
        return redis_client(self.redis_url) if self.redis_url else None

    def async_redis(self) -> AsyncRedis | None:
        """A new asyncio client (the caller closes it), or None when embedded."""
        return async_redis_client(self.redis_url) if self.redis_url else None

    def choose(self, *, embedded: Callable[[], T], shared: Callable[[Redis], T]) -> T:
        """The one branch: `embedded()`, or `shared(client)` with the process's shared
        client. Called by whatever makes a part that differs (`prices.cache.price_store`)."""
        client = self.redis()
        return embedded() if client is None else shared(client)

    def choose_async(self, *, embedded: Callable[[], T], shared: Callable[[AsyncRedis], T]) -> T:
        """As `choose`, on an event loop: `shared` gets a new asyncio client, which the
        part it makes owns and closes."""
        client = self.async_redis()
        return embedded() if client is None else shared(client)


def current() -> Deployment:
    """This process's deployment, read at call time (tests change settings)."""
    return Deployment(settings.REDIS_URL)
