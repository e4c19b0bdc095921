"""What a worker keeps between screen runs: closed bars read once per universe at the
widest length (shorter ones sliced), the forming overlay shared by the screens of one beat
minute and read afresh the next, and an embedded price cache that holds a candle per
stock of a 2,428-stock universe."""

from __future__ import annotations

import time

import numpy as np
import pytest

from history import arrays as bar_arrays
from history.arrays import empty
from prices.sink import PriceSink
from screeners import barcache
from screeners.barcache import FORMING_REUSE_SECONDS, ClosedBars

KEYS = ("NSE_EQ:1", "NSE_EQ:2")


@pytest.fixture
def reads(monkeypatch):
    """Each read of the store: (keys, length); the closes count up to the latest."""
    made = []

    def closed(keys, tf, length, *, now, using="default"):
        made.append((tuple(keys), length))
        out = empty(keys, length)
        for field in bar_arrays.PRICE_FIELDS:
            getattr(out, field)[:] = np.arange(length, dtype=float)
        out.last_start[:] = 86_400
        return out

    monkeypatch.setattr(bar_arrays, "closed", closed)
    return made


def test_closed_bars_are_read_once_at_the_widest_length_and_sliced(reads):
    kept = ClosedBars()
    wide = kept.closed(KEYS, "1d", 352)
    narrow = kept.closed(KEYS, "1d", 300)
    assert reads == [(KEYS, 352)]
    assert narrow.close.shape == (2, 300) and narrow.close[0, -1] == wide.close[0, -1] == 351
    assert kept.closed(KEYS, "1d", 400).close.shape == (2, 400)  # wider: read again
    assert reads == [(KEYS, 352), (KEYS, 400)]


def test_intraday_closed_bars_are_read_every_time(reads):
    kept = ClosedBars()
    kept.closed(KEYS, "5m", 300)
    kept.closed(KEYS, "5m", 300)
    assert len(reads) == 2


def test_the_forming_overlay_is_shared_within_seconds_and_read_again_after(reads):
    clock = {"now": time.time()}
    kept = ClosedBars(clock=lambda: clock["now"])
    today = int(clock["now"])
    sink = PriceSink()
    sink.put_candles(
        {KEYS[0]: {"forming": {"1d": {"t": today, "o": 1, "h": 9, "l": 1, "c": 7, "v": 5}}}}
    )
    sink.flush()
    first, with_forming = barcache.load(KEYS, "1d", 300, forming=True, kept=kept)
    assert with_forming and first.close[0, -1] == 7 and first.close[1, -1] == 299
    sink.put_candles(
        {KEYS[0]: {"forming": {"1d": {"t": today, "o": 1, "h": 9, "l": 1, "c": 8, "v": 6}}}}
    )
    sink.flush()
    clock["now"] += FORMING_REUSE_SECONDS / 2
    assert barcache.load(KEYS, "1d", 300, forming=True, kept=kept)[0].close[0, -1] == 7
    clock["now"] += 60  # the next beat minute
    assert barcache.load(KEYS, "1d", 300, forming=True, kept=kept)[0].close[0, -1] == 8
    assert reads == [(KEYS, 300)]  # the closed bars once


def test_the_embedded_price_cache_holds_a_candle_per_stock_of_the_universe():
    keys = [f"NSE_EQ:{sid}" for sid in range(1, 2_501)]
    sink = PriceSink()
    sink.put_candles(
        {k: {"forming": {"1d": {"t": 0, "o": 1, "h": 1, "l": 1, "c": 1, "v": 1}}} for k in keys}
    )
    sink.flush()
    from history.live import read_records

    assert len(read_records(keys)) == 2_500  # locmem's default 300 entries would cull them
