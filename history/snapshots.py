"""A candle subscription's snapshot (`candle_snapshot`): the last closed bars of each key
from the bar store and its forming bar from the cache. Registered with the price consumer
(`prices.subscriptions.CANDLE_SNAPSHOTS`) by the app's `ready()`; runs on a worker thread."""

from __future__ import annotations

import logging

import redis
from django.db import DatabaseError

from history import live, store

logger = logging.getLogger(__name__)

SNAPSHOT_BARS = 300  # closed bars per key, as the contract says


def read(tf: str, keys: list[str]) -> dict[str, dict]:
    """`{KEY: {"bars": [...the last 300 closed], "forming": BAR|None}}`."""
    try:
        records = live.read_records(keys)
    except redis.RedisError:
        records = {}
    out = {}
    for key in keys:
        try:
            closed = store.read(key, tf, limit=SNAPSHOT_BARS)
        except DatabaseError as exc:
            logger.warning("candle snapshot of %s: bar store unreachable (%s)", key, exc)
            closed = []
        forming = live.forming(records.get(key), tf)
        if forming is not None and closed and forming.t <= closed[-1].t:
            forming = None
        out[key] = {
            "bars": [b.as_json() for b in closed],
            "forming": forming.as_json() if forming else None,
        }
    return out
