"""The feed worker's live candles (`history.candles.LiveCandles`) on a clock of the test's:
sealed minutes reach the bar store, each changed key's CANDLE record carries every
timeframe's forming bar (minutes folded into 5m-1h, the feed's day into 1d, 1w and 1mo),
and a worker that takes over goes on from the record with no volume lost or counted twice."""

from __future__ import annotations

from datetime import date

import pytest

from dhan.clock import feed_ltt
from dhan.decoder import Decoder
from dhan.packets import Quote, encode_quote
from history import live, store
from history.candles import LiveCandles
from history.timeframes import Bar, day_start
from prices.cache import LocalPriceStore
from prices.sink import PriceSink

pytestmark = pytest.mark.django_db(transaction=True)
KEY = "NSE_EQ:2885"
DAY = date(2026, 12, 7)  # a Monday
OPEN = day_start(DAY) + (9 * 60 + 15) * 60
TICKS = {(1, 2885): 0.05}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def packet(at: int, price: float, cumulative: int) -> Quote:
    """A trade at Unix second `at` (the day: open 2840, high 2850, low 2830)."""
    return Quote(
        1, 2885, price, 1, feed_ltt(at), price, cumulative, 0, 0, 2840.0, 2830.5, 2850.0, 2830.0
    )


def quote(at: int, price: float, cumulative: int) -> bytes:
    return encode_quote(packet(at, price, cumulative))


def make(clock: Clock) -> LiveCandles:
    sink = PriceSink(store=LocalPriceStore())
    candles = LiveCandles([KEY], Decoder(TICKS), sink=sink, round_the_clock=False, clock=clock)
    candles.load()
    candles.sink = sink  # the test reads what was put
    return candles


def flushed(candles: LiveCandles) -> dict:
    candles.sink.flush()
    return live.read_records([KEY]).get(KEY) or {}


def test_sealed_minutes_are_stored_and_every_timeframe_forms(settings):
    clock = Clock(OPEN + 1)
    store.upsert(KEY, "1d", [Bar(day_start(date(2026, 12, 4)), 2800.0, 2820.0, 2790.0, 2810.0, 5)])
    candles = make(clock)
    for at, price, cum in (
        (OPEN + 1, 2845.05, 100),
        (OPEN + 30, 2846.0, 130),
        (OPEN + 61, 2844.5, 170),
    ):
        clock.now = at
        candles.take(quote(at, price, cum))
        candles.collect()
    clock.now = OPEN + 62  # 09:15 sealed (1 s after its end)
    candles.collect()
    candles.take(quote(OPEN + 62, 2847.0, 200))
    candles.put_days({KEY: packet(OPEN + 62, 2847.0, 200)})  # the feed's day, as the kind does
    candles.collect()
    record = flushed(candles)
    candles.close()

    forming = record["forming"]
    assert forming["1m"] == {
        "t": OPEN + 60,
        "o": 2844.5,
        "h": 2847.0,
        "l": 2844.5,
        "c": 2847.0,
        "v": 70,
    }
    assert forming["5m"] == {
        "t": OPEN,
        "o": 2845.05,
        "h": 2847.0,
        "l": 2844.5,
        "c": 2847.0,
        "v": 100,
    }
    assert forming["1h"]["t"] == OPEN and forming["1h"]["v"] == 100
    assert forming["1d"] == {
        "t": day_start(DAY),
        "o": 2840.0,
        "h": 2850.0,
        "l": 2830.0,
        "c": 2847.0,
        "v": 200,
    }
    assert (
        forming["1w"]["t"] == day_start(DAY) and forming["1w"]["v"] == 200
    )  # Monday: no earlier day
    assert (
        forming["1mo"]["o"] == 2800.0 and forming["1mo"]["v"] == 205
    )  # December's 4th, then today
    assert record["cv"] == 200
    stored = store.read(KEY, "1m")
    assert stored[0] == Bar(OPEN, 2845.05, 2846.0, 2845.05, 2846.0, 30)
    assert [b.t for b in stored] == [OPEN, OPEN + 60]  # the stop sealed the forming minute too


def test_a_worker_that_takes_over_loses_and_repeats_no_volume():
    clock = Clock(OPEN + 1)
    first = make(clock)
    for at, cum in ((OPEN + 1, 100), (OPEN + 20, 150)):
        clock.now = at
        first.take(quote(at, 2845.05, cum))
        first.collect()
    flushed(first)  # the record as the first worker left it (killed: no close)

    clock.now = OPEN + 30
    second = make(clock)  # goes on from the CANDLE record
    second.take(quote(OPEN + 20, 2845.05, 150))  # the last trade, re-sent: nothing new
    second.take(quote(OPEN + 40, 2846.0, 190))
    clock.now = OPEN + 62
    second.collect()
    second.close()

    assert store.read(KEY, "1m") == [Bar(OPEN, 2845.05, 2846.0, 2845.05, 2846.0, 90)]
