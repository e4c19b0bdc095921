"""The Django cache, channel layer and Celery broker for one deployment shape, chosen once
by settings.py: Redis through Sentinel (`REDIS_SENTINELS`), one Redis (`REDIS_URL`), or
embedded (neither: one process, in-memory). Plain data only: nothing here connects."""

from __future__ import annotations

from dataclasses import dataclass, field

RedisHosts = list[tuple[str, int]]


@dataclass(frozen=True, slots=True)
class Backends:
    caches: dict
    channel_layers: dict
    celery_broker_url: str
    celery_broker_transport_options: dict = field(default_factory=dict)
    silenced_checks: tuple[str, ...] = ()


EMBEDDED_CACHE_ENTRIES = 100_000


def _redis_cache(location: str, *, timeouts: dict, **options) -> dict:
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": location,
            # Our client class: the cache (the API's rate counts) shares the process's
            # fail-fast breaker for a hung Redis (prices/redisconn.py).
            "OPTIONS": {
                "REDIS_CLIENT_CLASS": "prices.redisconn.GuardedRedis",
                **options,
                **timeouts,
            },
        }
    }


def _pubsub_layer(host: object) -> dict:
    # The pub/sub layer: one PUBLISH per group_send, no per-member fan-out in Redis and no
    # silent drop at a capacity of 100 (docs/how-it-works.md, "Channel layer").
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [host]},
        }
    }


def choose_backends(
    *,
    redis_url: str,
    sentinels: RedisHosts,
    sentinel_master: str,
    socket_timeout_seconds: float,
    connect_timeout_seconds: float,
) -> Backends:
    """Sentinel when `sentinels` are given, else Redis at `redis_url`, else embedded."""
    timeouts = {
        "SOCKET_TIMEOUT": socket_timeout_seconds,
        "SOCKET_CONNECT_TIMEOUT": connect_timeout_seconds,
    }
    if sentinels:
        return _sentinel_backends(sentinels, master=sentinel_master, timeouts=timeouts)
    if redis_url:
        return Backends(
            caches=_redis_cache(
                redis_url, timeouts=timeouts, CLIENT_CLASS="django_redis.client.DefaultClient"
            ),
            channel_layers=_pubsub_layer(redis_url),
            celery_broker_url=redis_url,
        )
    return Backends(
        # The price cache too: a price, a quote and a candle per streamed instrument, and
        # locmem's default of 300 entries would evict most of them (it culls silently).
        caches={
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "OPTIONS": {"MAX_ENTRIES": EMBEDDED_CACHE_ENTRIES},
            }
        },
        channel_layers={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
        celery_broker_url="memory://localhost/",
        # One process: its local cache is shared by everything that counts requests.
        silenced_checks=("django_ratelimit.E003", "django_ratelimit.W001"),
    )


def _sentinel_backends(sentinels: RedisHosts, *, master: str, timeouts: dict) -> Backends:
    return Backends(
        caches=_redis_cache(
            f"redis://{master}/0",
            timeouts=timeouts,
            CLIENT_CLASS="django_redis.client.SentinelClient",
            CONNECTION_FACTORY="django_redis.pool.SentinelConnectionFactory",
            SENTINELS=sentinels,
        ),
        channel_layers=_pubsub_layer({"sentinels": sentinels, "master_name": master}),
        celery_broker_url=";".join(f"sentinel://{h}:{p}" for h, p in sentinels),
        celery_broker_transport_options={"master_name": master},
    )
