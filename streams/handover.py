"""Hand-overs between workers: a worker that stops gracefully (SIGTERM, a deploy) frees each
stream's locks and announces its key on a Redis pub/sub channel (`announce`, called by
`locks.ConnectionLocks.hand_over`); every other worker's takeover watcher listens
(`HandoverListener`) and looks for streams to start at once instead of at its next poll.
A missed message costs only that: the watcher's poll finds the stream anyway.
"""

from __future__ import annotations

import logging
import threading

import redis

from prices.deployment import current

logger = logging.getLogger(__name__)

HANDOVER_CHANNEL = "market_stream:handover"  # messages: the stream key just freed


def announce(client: redis.Redis, key: str) -> None:
    """Tell every worker that `key` was just freed. Never raises: without the message the
    watchers' poll finds the stream a little later."""
    try:
        client.publish(HANDOVER_CHANNEL, key)
    except redis.RedisError as exc:
        logger.warning("stream %s handed over unannounced (%s): found by the next poll", key, exc)


class HandoverListener:
    """A takeover watcher's subscription to hand-overs; used by its thread only. Redis
    unreachable: it waits as a plain sleep would and subscribes again on the next call."""

    def __init__(self) -> None:
        self._pubsub: redis.client.PubSub | None = None
        self._failing = False

    def heard(self, timeout: float, *, stop: threading.Event) -> bool:
        """Wait up to `timeout` seconds for a hand-over; True when one was announced."""
        client = current().redis()
        if client is None:  # embedded: one process, nobody to hear from
            stop.wait(timeout)
            return False
        try:
            if self._pubsub is None:
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                self._pubsub = pubsub
                pubsub.subscribe(HANDOVER_CHANNEL)
            message = self._pubsub.get_message(timeout=timeout)
        except redis.RedisError as exc:
            if not self._failing:
                logger.warning("takeover: not hearing hand-overs (%s); polling meanwhile", exc)
            self._failing = True
            self.close()
            stop.wait(timeout)
            return False
        self._failing = False
        return message is not None and message["type"] == "message"

    def close(self) -> None:
        """Drop the subscription (its connection goes back to the pool, closed)."""
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                pubsub.close()
            except redis.RedisError:
                pass  # its connection is gone already
