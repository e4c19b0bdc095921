"""What the feed worker keeps of each instrument's live candles where every web process can
read it: one CANDLE record per key in the price cache (`candle:SEG:SID`, beside the
QUOTE): `{"forming": {TF: BAR}, "cv": <the day's cumulative volume at the last trade>,
"ltt": <that trade's LTT>, "day": <its IST day number>, "oi": <open interest,
derivatives>}`. Written through the price sink by `history.candles`; read by the bars
API, the candle snapshots, and a restarted worker re-seeding its builder.
"""

from __future__ import annotations

from history.timeframes import Bar
from prices.cache import CANDLE_KEY_PREFIX, price_store


def bar_from_json(raw: object) -> Bar | None:
    if not isinstance(raw, dict):
        return None
    try:
        return Bar(
            int(raw["t"]), raw["o"], raw["h"], raw["l"], raw["c"], int(raw["v"]), raw.get("oi")
        )
    except (KeyError, TypeError, ValueError):
        return None


def read_records(keys: list[str]) -> dict[str, dict]:
    """The CANDLE records of `keys` (keys with none absent). Raises the cache's errors."""
    return price_store().read_records(CANDLE_KEY_PREFIX, keys)


def forming(record: dict | None, tf: str) -> Bar | None:
    """The forming `tf` bar of a CANDLE record, if it has one."""
    if not record:
        return None
    return bar_from_json((record.get("forming") or {}).get(tf))
