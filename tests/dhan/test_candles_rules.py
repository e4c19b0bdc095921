"""The live candle builder's rules one by one, on hand-written feeds (the properties over
any feed are in test_candles.py): sealing with no later tick and at 15:30:05, exact prices,
the volume baseline, late and skewed trades, OI, draining, seeding, malformed frames."""

from __future__ import annotations

import math

import pytest

from dhan.candles import Bar, ClosedBar, DecodeError
from dhan.packets import encode_oi, encode_prev_close, encode_ticker
from tests.dhan.test_candles import IST, KEYS, Trade, builder

DAY = 20_500 * 86_400  # an IST day, in IST seconds


def ist(hh: int, mm: int, ss: float = 0) -> float:
    """IST seconds at hh:mm:ss of DAY (what the feed's LTT counts)."""
    return DAY + hh * 3600 + mm * 60 + ss


def unix(hh: int, mm: int, ss: float = 0) -> float:
    return ist(hh, mm, ss) - IST


def quote(key: str, price: float, at: float, cum: int, **kw: object) -> bytes:
    ticks = None if math.isnan(price) else round(price / float(KEYS[key][1]))
    return Trade(key, ticks, int(at), cum, **kw).encode()  # type: ignore[arg-type]


EQ, EQ01, FNO = "NSE_EQ:2885", "NSE_EQ:1333", "NSE_FNO:43000"


def test_a_minute_seals_by_the_timer_with_no_later_tick():
    b, clock = builder(unix(10, 0, 10))
    b.scan(quote(EQ, 2845.05, ist(10, 0, 20), 1000))
    clock.now = unix(10, 0, 40)
    b.scan(quote(EQ, 2845.10, ist(10, 0, 40), 1150))
    b.scan(quote(EQ, 2844.95, ist(10, 0, 50), 1200))
    assert b.seal(unix(10, 1, 0.75)) == []  # (1 s after the minute ends)
    clock.now = unix(10, 1, 2)
    bar = Bar(int(unix(10, 0)), 2845.05, 2845.10, 2844.95, 2844.95, 200, None)
    assert b.seal() == [ClosedBar(EQ, bar)]
    assert b.forming() == {} and b.seal(unix(10, 5)) == []


def test_the_sessions_last_minute_seals_at_15_30_05():
    b, _ = builder(unix(15, 29, 50))
    b.scan(quote(EQ, 100.0, ist(15, 29, 50), 10))
    assert b.seal(unix(15, 30, 4.75)) == []
    assert [c.bar.t for c in b.seal(unix(15, 30, 5))] == [unix(15, 29)]
    rtc, _ = builder(unix(15, 29, 50), round_the_clock=True)  # DEV_MODE: no session
    rtc.scan(quote(EQ, 100.0, ist(15, 29, 50), 10))
    assert [c.bar.t for c in rtc.seal(unix(15, 30, 1))] == [unix(15, 29)]


def test_prices_come_out_exact_on_the_instruments_grid():
    b, _ = builder(unix(11, 0, 1))
    b.scan(quote(EQ, 2845.05, ist(11, 0, 1), 1))  # float32 2845.050048828125
    b.scan(quote(EQ01, 1612.37, ist(11, 0, 1), 1))  # float32 1612.3699951171875
    forming = b.forming()
    assert repr(forming[EQ].o) == "2845.05" and repr(forming[EQ01].c) == "1612.37"


def test_a_keys_first_packet_opens_the_bar_with_no_volume():
    b, _ = builder(unix(11, 0, 1))
    b.scan(quote(EQ, 500.0, ist(11, 0, 1), 123_456))
    assert b.forming() == {EQ: Bar(int(unix(11, 0)), 500.0, 500.0, 500.0, 500.0, 0, None)}


def test_pre_open_volume_moves_the_baseline_and_makes_no_bar():
    b, clock = builder(unix(9, 8, 0))
    b.scan(quote(EQ, 99.0, ist(9, 8, 0), 5000))
    assert b.forming() == {}
    clock.now = unix(9, 15, 2)
    b.scan(quote(EQ, 100.0, ist(9, 15, 2), 5200))
    assert b.forming()[EQ].v == 200  # not 5,200: the pre-open is not dumped into 09:15


def test_a_trade_of_a_sealed_minute_goes_to_the_arrival_minute_and_is_counted():
    b, clock = builder(unix(10, 0, 10))
    b.scan(quote(EQ, 100.0, ist(10, 0, 10), 100))
    clock.now = unix(10, 1, 3)
    assert len(b.seal()) == 1
    b.scan(quote(EQ, 101.0, ist(10, 0, 59), 150))  # LTT in 10:00, sealed at 10:01:01
    assert b.forming() == {EQ: Bar(int(unix(10, 1)), 101.0, 101.0, 101.0, 101.0, 50, None)}
    assert b.late == 1


def test_a_trade_of_the_unsealed_previous_minute_still_lands_there():
    b, clock = builder(unix(10, 0, 10))
    b.scan(quote(EQ, 100.0, ist(10, 0, 10), 100))
    clock.now = unix(10, 1, 0.5)
    b.scan(quote(EQ, 102.0, ist(10, 1, 0), 120))
    b.scan(quote(EQ, 101.0, ist(10, 0, 59), 150))  # before the seal at 10:01:01
    assert b.seal(unix(10, 1, 1))[0].bar[1:] == (100.0, 101.0, 100.0, 101.0, 30, None)
    assert b.late == 0


def test_an_ltt_more_than_600_s_off_the_clock_is_bucketed_by_arrival_and_counted():
    b, _ = builder(unix(10, 0, 10))
    b.scan(quote(EQ, 100.0, ist(10, 0, 10), 100))
    b.scan(quote(EQ, 101.0, ist(10, 0, 10) + 601, 110))  # 10:10:11, arrived 10:00:10
    assert b.skewed == 1
    assert b.forming()[EQ][1:] == (100.0, 101.0, 100.0, 101.0, 10, None)
    b.scan(quote(EQ, 99.0, ist(10, 0, 10) - 600, 130))  # 600 s off: by its LTT, 09:50 ...
    assert b.skewed == 1 and b.late == 1  # ... which sealed before the builder was made
    assert b.forming()[EQ][1:] == (100.0, 101.0, 99.0, 99.0, 30, None)


def test_a_lower_volume_is_stale_on_the_same_day_and_a_new_day_counts_from_zero():
    b, clock = builder(unix(15, 0, 0))
    b.scan(quote(EQ, 100.0, ist(15, 0, 0), 9000))
    b.scan(quote(EQ, 90.0, ist(15, 0, 1), 8000))  # same day, lower: stale, ignored
    assert b.stale == 1 and b.forming()[EQ].l == 100.0
    clock.now += 86_400  # the next day, same time
    b.scan(quote(EQ, 101.0, ist(15, 0, 0) + 86_400, 300))
    assert b.forming()[EQ] == Bar(int(unix(15, 0)) + 86_400, 101.0, 101.0, 101.0, 101.0, 300, None)


def test_the_last_trade_re_sent_changes_nothing():
    b, clock = builder(unix(10, 0, 10))
    b.scan(quote(EQ, 100.0, ist(10, 0, 10), 100))
    b.scan(quote(EQ, 100.5, ist(10, 0, 11), 110))
    b.drain_forming()
    clock.now = unix(10, 2, 0)  # a book change re-sends it, minutes later
    b.scan(quote(EQ, 100.5, ist(10, 0, 11), 110))
    assert b.drain_forming() == {} and b.seal()[0].bar.v == 10 and b.forming() == {}


def test_oi_goes_into_the_bars_of_derivatives_only():
    b, _ = builder(unix(10, 0, 10))
    b.scan(encode_oi(KEYS[FNO][0], oi=5000) + quote(FNO, 200.0, ist(10, 0, 10), 10))
    assert b.forming()[FNO].oi == 5000
    b.scan(encode_oi(KEYS[FNO][0], oi=5100))  # taken at the next trade
    assert b.forming()[FNO].oi == 5000
    b.scan(quote(FNO, 200.5, ist(10, 0, 12), 20))
    b.scan(quote(FNO, 201.0, ist(10, 0, 13), 30, full=True, oi=5200))  # a full packet's OI
    b.scan(encode_oi(KEYS[EQ][0], oi=7) + quote(EQ, 1.0, ist(10, 0, 10), 1, full=True, oi=7))
    assert b.forming()[FNO].oi == 5200 and b.forming()[EQ].oi is None


def test_ticker_and_previous_close_packets_make_no_bar():
    b, _ = builder(unix(10, 0, 10))
    key = KEYS[EQ][0]
    b.scan(encode_ticker(key, ltp=100.0, ltt=int(ist(10, 0, 10))))
    b.scan(encode_prev_close(key, prev_close=99.0) + encode_ticker(key, ltp=1.0, ltt=1))
    assert b.forming() == {} and b.state(EQ) is None


def test_drain_forming_gives_each_changed_key_once_with_its_latest_bar():
    b, clock = builder(unix(10, 0, 10))
    b.scan(quote(EQ, 100.0, ist(10, 0, 10), 100))
    b.scan(quote(EQ01, 50.0, ist(10, 0, 10), 100))
    assert set(b.drain_forming()) == {EQ, EQ01}
    clock.now = unix(10, 1, 0.5)
    b.scan(quote(EQ, 101.0, ist(10, 1, 0), 120))
    b.scan(quote(EQ, 100.5, ist(10, 0, 59), 130))  # into 10:00, not yet sealed
    assert b.drain_forming() == {EQ: Bar(int(unix(10, 1)), 101.0, 101.0, 101.0, 101.0, 20, None)}
    assert b.drain_forming() == {}


def test_a_seeded_builder_goes_on_where_the_old_one_stopped():
    old, _ = builder(unix(10, 0, 10))
    old.scan(quote(EQ, 100.0, ist(10, 0, 10), 100))
    old.scan(quote(EQ, 103.0, ist(10, 0, 20), 160))
    new, clock = builder(unix(10, 0, 30))
    new.seed(EQ, **old.state(EQ)._asdict())
    new.scan(quote(EQ, 103.0, ist(10, 0, 20), 160))  # re-sent as the new connection opens
    new.scan(quote(EQ, 99.0, ist(10, 0, 40), 200))
    clock.now = unix(10, 1, 1)
    assert new.seal() == [ClosedBar(EQ, Bar(int(unix(10, 0)), 100.0, 103.0, 99.0, 99.0, 100, None))]


def test_a_seeded_bar_whose_minute_is_due_is_sealed_at_the_next_seal():
    old, _ = builder(unix(10, 0, 10))
    old.scan(quote(EQ, 100.0, ist(10, 0, 10), 100))
    state = old.state(EQ)
    new, _ = builder(unix(10, 3, 0))  # the old process died before sealing 10:00
    new.seed(EQ, bar=state.bar, cumulative_volume=state.cumulative_volume, last_ltt=state.last_ltt)
    assert new.seal() == [ClosedBar(EQ, state.bar)]


def test_a_malformed_frame_raises_and_leaves_no_trace():
    b, _ = builder(unix(10, 0, 10))
    good = quote(EQ, 100.0, ist(10, 0, 10), 100)
    for bad in (good + good[:-1], good + b"\x03" + good[1:], b"", good[:49], "text"):
        with pytest.raises(DecodeError):
            b.scan(bad)  # type: ignore[arg-type]
    assert b.forming() == {} and b.state(EQ) is None and b.drain_forming() == {}


def test_a_non_finite_ltp_is_counted_and_skipped_and_the_frames_other_packets_taken():
    b, _ = builder(unix(10, 0, 10))
    b.scan(quote(EQ, math.nan, ist(10, 0, 10), 100) + quote(EQ01, 50.0, ist(10, 0, 10), 100))
    b.scan(quote(EQ01, math.nan, ist(10, 0, 11), 120))  # a single-packet frame too
    assert b.non_finite == 2 and set(b.forming()) == {EQ01}
    assert b.state(EQ) is None and b.state(EQ01).cumulative_volume == 100


def test_frames_as_bytearray_or_memoryview_are_taken():
    b, _ = builder(unix(10, 0, 10))
    b.scan(bytearray(quote(EQ, 100.0, ist(10, 0, 10), 100)))  # type: ignore[arg-type]
    b.scan(memoryview(quote(EQ, 101.0, ist(10, 0, 11), 150)))  # type: ignore[arg-type]
    assert b.forming()[EQ][1:] == (100.0, 101.0, 100.0, 101.0, 50, None)


def test_a_trade_of_an_earlier_ist_day_than_the_last_is_stale():
    b, clock = builder(unix(23, 59, 50), round_the_clock=True)
    b.scan(quote(EQ, 100.0, ist(23, 59, 50), 100))
    clock.now = unix(23, 59, 50) + 12
    b.scan(quote(EQ, 101.0, ist(23, 59, 50) + 12, 300))  # 00:00:02, the next day: from 0
    b.scan(quote(EQ, 102.0, ist(23, 59, 58), 400))  # back on the day before: stale
    assert b.stale == 1
    assert b.forming()[EQ][1:] == (101.0, 101.0, 101.0, 101.0, 300, None)


def test_a_trade_in_the_current_bars_minute_but_past_600_s_is_still_skewed():
    b, _ = builder(unix(10, 0, 45))
    b.scan(quote(EQ, 100.0, ist(10, 10, 35), 100))  # 590 s ahead: by its LTT, 10:10
    b.scan(quote(EQ, 101.0, ist(10, 10, 46), 120))  # 601 s ahead: the arrival's, 10:00
    assert b.skewed == 1
    closed = b.seal(unix(11, 0))
    assert [(c.bar.t, c.bar.o, c.bar.v) for c in closed] == [
        (unix(10, 0), 101.0, 20),
        (unix(10, 10), 100.0, 0),
    ]
