"""The day's `1d` bar of instruments that streamed, for the after-close job
(`history.afterclose`): from the feed's day open, high, low, last price and cumulative
volume (the cached QUOTE record, or the CANDLE record's forming day bar, which outlives
the QUOTE's 30 s), or, for keys without either, DhanHQ's REST market quote
(`/v2/marketfeed/quote`, 1,000 instruments a call, through `prices.rest`'s client and its
gate: one call a second for the deployment). Prices snapped to the tick grid.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date

from dhan.limits import REST_MAX_INSTRUMENTS
from dhan.rest import DhanRest
from dhan.segments import InstrumentKey
from dhan.ticks import TickGrid
from history import live
from history.timeframes import DAY, Bar, day_start
from prices.models import Instrument
from prices.rest import rest_client

logger = logging.getLogger(__name__)

# The REST gate spaces market quotes 1.15 s apart and a call that finds it shut returns
# nothing: try a chunk this many times, this far apart, before leaving its keys unpriced.
REST_QUOTE_TRIES = 8
REST_QUOTE_RETRY_SECONDS = 0.3
REST_TRADE_DAY_FORMAT = "%d/%m/%Y"  # `last_trade_time`, "dd/MM/yyyy HH:mm:ss" IST


def _price(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _bar(day: date, tick_size: float, *, ohlc: Sequence[object], volume: object) -> Bar | None:
    """A day's bar from its open, high, low and last price, or None when any is missing
    or the instrument did not trade."""
    values = [_price(x) for x in (*ohlc, volume)]
    if any(v is None for v in values):
        return None
    snap = TickGrid.of(tick_size).snap
    o, h, lo, c, v = (x or 0.0 for x in values)
    return Bar(day_start(day), snap(o), snap(h), snap(lo), snap(c), int(v))


def bar_from_feed(
    quote: Mapping | None, candle: Mapping | None, *, day: date, tick_size: float
) -> Bar | None:
    """`day`'s bar from the feed: its QUOTE record, else the forming `1d` bar of its
    CANDLE record (the feed's day OHLC and volume, as the candle builder keeps them)."""
    bar = bar_from_quote(quote, day=day, tick_size=tick_size) if quote else None
    if bar is None and candle:
        day_bar = live.forming(dict(candle), DAY)
        if day_bar is not None and day_bar.t == day_start(day):
            prices = (day_bar.o, day_bar.h, day_bar.l, day_bar.c)
            bar = _bar(day, tick_size, ohlc=prices, volume=day_bar.v)
    return bar


def bar_from_quote(record: Mapping, *, day: date, tick_size: float) -> Bar | None:
    """`day`'s bar from a cached QUOTE record whose last trade was on `day`."""
    ltt = record.get("ltt")
    if not (isinstance(ltt, str) and ltt[:10] == day.isoformat()):
        return None  # no trade today: yesterday's prices are not today's bar
    fields = ("open", "high", "low", "ltp")
    return _bar(day, tick_size, ohlc=[record.get(f) for f in fields], volume=record.get("volume"))


def bar_from_rest(entry: Mapping, *, day: date, tick_size: float) -> Bar | None:
    """`day`'s bar from a REST market quote entry (`ohlc.close` is the previous close:
    the day's close is `last_price`)."""
    traded = str(entry.get("last_trade_time") or "").partition(" ")[0]
    if traded != day.strftime(REST_TRADE_DAY_FORMAT):
        return None
    ohlc = entry.get("ohlc") if isinstance(entry.get("ohlc"), dict) else {}
    prices = [ohlc.get("open"), ohlc.get("high"), ohlc.get("low"), entry.get("last_price")]
    return _bar(day, tick_size, ohlc=prices, volume=entry.get("volume"))


def rest_day_bars(
    instruments: Sequence[Instrument],
    *,
    day: date,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Bar]:
    """`day`'s bars of `instruments` from DhanHQ's REST market quote, 1,000 a call;
    {} without credentials. Keys DhanHQ gives no usable quote for are left out."""
    client = rest_client()
    if client is None or not instruments:
        return {}
    by_key = {i.key: i for i in instruments}
    keys = list(by_key)
    out: dict[str, Bar] = {}
    for i in range(0, len(keys), REST_MAX_INSTRUMENTS):
        chunk = keys[i : i + REST_MAX_INSTRUMENTS]
        data = _quote(client, [InstrumentKey.parse(k) for k in chunk], sleep=sleep)
        for key in chunk:
            segment, _, sid = key.partition(":")
            entry = (data.get(segment) or {}).get(sid)
            tick = float(by_key[key].tick_size)
            bar = bar_from_rest(entry, day=day, tick_size=tick) if isinstance(entry, dict) else None
            if bar is not None:
                out[key] = bar
    return out


def _quote(client: DhanRest, keys: list[InstrumentKey], *, sleep: Callable[[float], None]) -> dict:
    """One `/v2/marketfeed/quote` answer's data (segment -> id -> entry), waiting for the
    REST gate; {} when DhanHQ never answered."""
    for _ in range(REST_QUOTE_TRIES):
        data = client.quotes(keys)
        if data:
            return data
        sleep(REST_QUOTE_RETRY_SECONDS)
    logger.warning("no REST market quote for %d keys: their day bars are missing", len(keys))
    return {}
