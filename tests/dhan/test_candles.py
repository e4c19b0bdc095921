"""The live candle builder (`dhan.candles`) against a reference written plainly from the
contract's rules, trade by trade: for any feed (LTTs out of order, skewed and late, trades
re-sent, stale and reset volumes, malformed frames, seals as time goes on), the bars sealed
at each seal, the forming bars, the drained bars and the counts are the reference's; and a
builder seeded from another's state mid-minute goes on as the one builder would have.
Frames are built with the real encoders."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dhan.candles import Bar, CandleBuilder, ClosedBar, DecodeError
from dhan.decoder import Decoder
from dhan.packets import (
    DepthLevel,
    Full,
    Quote,
    encode_full,
    encode_oi,
    encode_quote,
)
from dhan.segments import InstrumentKey

IST = 19_800
# NSE_EQ:2885 on a 0.05 grid (given), NSE_EQ:1333 on NSE_EQ's default 0.01, NSE_FNO:43000 (a
# derivative: its bars carry OI) on NSE_FNO's default 0.05.
KEYS = {
    "NSE_EQ:2885": (InstrumentKey(1, 2885), Decimal("0.05"), 3_000_000),
    "NSE_EQ:1333": (InstrumentKey(1, 1333), Decimal("0.01"), 5_000_000),
    "NSE_FNO:43000": (InstrumentKey(2, 43000), Decimal("0.05"), 3_000_000),
}
TICK_SIZES = {(1, 2885): 0.05}
DERIVATIVES = {"NSE_FNO:43000"}
NO_DEPTH = (DepthLevel(0, 0, 0, 0, 0.0, 0.0),) * 5


class Clock:
    """The builder's injected clock: the test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def builder(now: float, *, round_the_clock: bool = False) -> tuple[CandleBuilder, Clock]:
    clock = Clock(now)
    return CandleBuilder(Decoder(TICK_SIZES), clock=clock, round_the_clock=round_the_clock), clock


@dataclass(frozen=True)
class Trade:
    key: str
    ticks: int | None  # None: a NaN price
    ltt: int  # IST seconds, as sent
    cum: int
    full: bool = False
    oi: int = 0  # a full packet's

    def encode(self) -> bytes:
        ik, tick, _ = KEYS[self.key]
        price = math.nan if self.ticks is None else float(self.ticks * tick)
        fields = (ik.segment, ik.security_id, price, 1, self.ltt, price, self.cum, 0, 0)
        if self.full:
            ois = (self.oi, self.oi, self.oi)
            return encode_full(Full(*fields, *ois, price, price, price, price, NO_DEPTH))
        return encode_quote(Quote(*fields, price, price, price, price))


@dataclass(frozen=True)
class OI:
    key: str
    oi: int

    def encode(self) -> bytes:
        return encode_oi(KEYS[self.key][0], oi=self.oi)


# --- the reference: the contract's rules, per trade, in Unix seconds ---------------------


@dataclass
class Reference:
    sealed_at: float  # the latest time a seal reached (the builder's creation counts)
    round_the_clock: bool
    last: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # LTT, cum, IST day
    oi: dict[str, int] = field(default_factory=dict)
    bars: dict[tuple[int, str], list] = field(default_factory=dict)  # (start, key) -> OHLCVI
    changed: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(
        default_factory=lambda: {"non_finite": 0, "skewed": 0, "stale": 0, "late": 0}
    )

    def seals_at(self, start: int) -> float:
        minute_of_day = (start + IST) // 60 % 1440
        last_of_session = minute_of_day == 15 * 60 + 29 and not self.round_the_clock
        return start + 60 + (5 if last_of_session else 1)  # 15:29 IST seals at 15:30:05

    def in_session(self, start: int) -> bool:
        return self.round_the_clock or 9 * 60 + 15 <= (start + IST) // 60 % 1440 <= 15 * 60 + 29

    def trade(self, arrival: float, t: Trade) -> None:
        if t.full and t.key in DERIVATIVES:
            self.oi[t.key] = t.oi
        last = self.last.get(t.key)
        if last is not None and (t.ltt, t.cum) == last[:2]:
            return  # the last trade re-sent
        if t.ticks is None:
            self.counts["non_finite"] += 1
            return
        when = t.ltt - IST
        if abs(when - arrival) > 600:
            self.counts["skewed"] += 1
            when = math.floor(arrival)
        day = (when + IST) // 86_400
        if last is None:
            volume = 0
        elif day > last[2]:
            volume = t.cum
        elif day < last[2] or t.cum < last[1]:
            self.counts["stale"] += 1
            return
        else:
            volume = t.cum - last[1]
        self.last[t.key] = (t.ltt, t.cum, day)
        start = when - when % 60
        if self.seals_at(start) <= self.sealed_at:
            self.counts["late"] += 1
            start = math.floor(arrival) - math.floor(arrival) % 60
        if self.in_session(start):
            self.add(start, t, volume)

    def add(self, start: int, t: Trade, volume: int) -> None:
        oi = self.oi.get(t.key) if t.key in DERIVATIVES else None
        bar = self.bars.setdefault((start, t.key), [t.ticks, t.ticks, t.ticks, t.ticks, 0, oi])
        bar[1], bar[2], bar[3] = max(bar[1], t.ticks), min(bar[2], t.ticks), t.ticks
        bar[4] += volume
        bar[5] = oi
        self.changed.add(t.key)

    def set_oi(self, o: OI) -> None:
        if o.key in DERIVATIVES:
            self.oi[o.key] = o.oi

    def out(self, start: int, key: str) -> Bar:
        o, h, lo, c, v, oi = self.bars[start, key]
        tick = KEYS[key][1]
        return Bar(start, *(float(Decimal(p) * tick) for p in (o, h, lo, c)), v, oi)

    def seal(self, now: float) -> list[ClosedBar]:
        self.sealed_at = max(self.sealed_at, now)
        due = sorted(k for k in self.bars if self.seals_at(k[0]) <= self.sealed_at)
        closed = [ClosedBar(key, self.out(start, key)) for start, key in due]
        for k in due:
            del self.bars[k]
        return closed

    def forming(self, keys: set[str] | None = None) -> dict[str, Bar]:
        latest = {}
        for start, key in sorted(self.bars):
            if keys is None or key in keys:
                latest[key] = self.out(start, key)
        return latest

    def drain(self) -> dict[str, Bar]:
        changed, self.changed = self.changed, set()
        return self.forming(changed)


# --- feeds ------------------------------------------------------------------------------

# Seconds of IST day the feed starts at: before the session, in it, before and in its last
# minute, before midnight (round the clock), on a minute's last quarter second.
ANCHORS = [
    9 * 3600 + 14 * 60 + 30,
    12 * 3600,
    15 * 3600 + 28 * 60 + 30,
    15 * 3600 + 29 * 60 + 45,
    86_400 - 90,
    3600 + 59.75,
]
STEPS = st.sampled_from([0, 0, 0.25, 0.5, 0.75, 1, 1, 2, 5, 20, 45, 59.75, 61, 125, 86_400])
LTT_LAGS = [0, 0, 0, 1, 3]  # seconds behind the arrival, for a usual trade
ODD_LTTS = [61, 90, 300, -30, -90, -599, 600, -600, 601, -601, 5000, -90_000]


@st.composite
def trades(draw: st.DrawFn, t: float, last: dict[str, tuple[int, int]], *, odd: bool) -> Trade:
    """One trade at arrival time `t`: mostly new, or (`odd`) a repeat, stale, reset, NaN,
    or with an LTT late, early or skewed past 600 s."""
    key = draw(st.sampled_from(sorted(KEYS)))
    prev_ltt, prev_cum = last.get(key, (0, 0))
    kinds = ["new"] * 5 + (["repeat", "stale", "reset", "odd_ltt", "nan"] if odd else ["repeat"])
    kind = draw(st.sampled_from(kinds))
    ltt = math.floor(t) + IST - draw(st.sampled_from(LTT_LAGS))
    cum = prev_cum + draw(st.integers(0, 500))
    if kind == "repeat" and key in last:
        ltt, cum = prev_ltt, prev_cum
    elif kind == "stale":
        cum = max(0, prev_cum - draw(st.integers(1, 50)))
    elif kind == "reset":
        cum = draw(st.integers(0, 300))
    elif kind == "odd_ltt":
        ltt = math.floor(t) + IST - draw(st.sampled_from(ODD_LTTS))
    ticks = None if kind == "nan" else draw(st.integers(1, KEYS[key][2]))
    full = draw(st.booleans())
    last[key] = (ltt, cum)
    return Trade(key, ticks, ltt, cum, full, draw(st.integers(0, 10**7)) if full else 0)


def _broken(draw: st.DrawFn, frame: bytes, size: int) -> bytes:
    """`frame` made malformed in its last packet (`size` bytes long)."""
    how = draw(st.sampled_from(["cut", "length", "code", "empty"]))
    if how == "cut":
        return frame[: len(frame) - draw(st.integers(1, size - 1))]
    at = len(frame) - size
    if how == "length":
        return frame[: at + 1] + (size + 1).to_bytes(2, "little") + frame[at + 3 :]
    if how == "code":
        return frame[:at] + b"\x03" + frame[at + 1 :]
    return b""


@st.composite
def feeds(
    draw: st.DrawFn, *, odd: bool = True, start: float | None = None, last: dict | None = None
) -> tuple:
    """(start time, round the clock, events): ("frame", t, packets), ("bad", t, frame),
    ("seal", t, given now or the clock's), ("drain", t). `odd`: with malformed frames and
    odd trades, and days going by; `last`: each key's last LTT and volume sent."""
    rtc = draw(st.booleans())
    if start is None:
        start = draw(st.integers(20_000, 20_600)) * 86_400 + draw(st.sampled_from(ANCHORS)) - IST
    t, last, events = start, {} if last is None else last, []
    for _ in range(draw(st.integers(1, 40))):
        t += draw(STEPS if odd else STEPS.filter(lambda s: s < 86_400))
        action = draw(st.sampled_from(["frame"] * 6 + ["seal", "seal", "drain"] + ["bad"] * odd))
        if action == "seal":
            events.append(("seal", t, draw(st.booleans())))
        elif action == "drain":
            events.append(("drain", t))
        else:
            packets: list[Trade | OI] = [
                draw(trades(t, dict(last) if action == "bad" else last, odd=odd))
            ]
            if draw(st.booleans()):
                packets.append(
                    draw(st.builds(OI, st.sampled_from(sorted(KEYS)), st.integers(0, 10**7)))
                )
            frame = b"".join(p.encode() for p in packets)
            if action == "bad":
                frame = _broken(draw, frame, len(packets[-1].encode()))
            events.append((action, t, packets if action == "frame" else frame))
    return start, rtc, events


def run(b: CandleBuilder, clock: Clock, ref: Reference, events: list) -> list[ClosedBar]:
    """Feed `events` to the builder and the reference, checking them at every seal, drain
    and malformed frame; returns the bars sealed."""
    closed = []
    for action, t, *rest in events:
        clock.now = t
        if action == "frame":
            b.scan(b"".join(p.encode() for p in rest[0]))
            for p in rest[0]:
                if isinstance(p, Trade):
                    ref.trade(t, p)
                else:
                    ref.set_oi(p)
        elif action == "bad":
            assert b.drain_forming() == ref.drain()
            before = (b.forming(), {k: b.state(k) for k in KEYS}, _counts(b))
            with pytest.raises(DecodeError):
                b.scan(rest[0])
            assert (b.forming(), {k: b.state(k) for k in KEYS}, _counts(b)) == before
            assert b.drain_forming() == {}
        elif action == "seal":
            sealed = b.seal(t if rest[0] else None)
            assert sealed == ref.seal(t)
            closed += sealed
        else:
            assert b.drain_forming() == ref.drain()
    return closed


def _counts(b: CandleBuilder) -> dict[str, int]:
    return {"non_finite": b.non_finite, "skewed": b.skewed, "stale": b.stale, "late": b.late}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feeds())
def test_bars_equal_the_reference_for_any_feed(feed):
    start, rtc, events = feed
    b, clock = builder(start, round_the_clock=rtc)
    ref = Reference(start, rtc)
    run(b, clock, ref, events)
    assert b.forming() == ref.forming()
    assert _counts(b) == ref.counts
    end = events[-1][1] + 10 * 86_400
    assert b.seal(end) == ref.seal(end)
    assert b.forming() == {}


def _last_trades(events: list) -> list[Trade]:
    last: dict[str, Trade] = {}
    for action, _, *rest in events:
        if action == "frame":
            last.update((p.key, p) for p in rest[0] if isinstance(p, Trade))
    return list(last.values())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_builder_seeded_mid_minute_goes_on_as_one_builder_would(data):
    """A new process seeded from the old builder's state (as the feed worker keeps it in
    Redis) mid-minute, the feed re-sending each key's last trade as it reconnects: the bars
    and their volumes are the one builder's, none lost or duplicated."""
    last: dict = {}
    start, rtc, before = data.draw(feeds(odd=False, last=last))
    handover = (before[-1][1] // 60 + 1) * 60 + data.draw(st.sampled_from([1, 1.25, 17, 59.75]))
    resent = [("frame", handover, [t]) for t in _last_trades(before)]
    _, _, after = data.draw(feeds(odd=False, start=handover, last=last))
    at_handover = [("seal", handover, True), ("drain", handover)]

    one, clock = builder(start, round_the_clock=rtc)
    closed_one = run(one, clock, Reference(start, rtc), before + at_handover + resent + after)

    ref = Reference(start, rtc)
    old, clock = builder(start, round_the_clock=rtc)
    closed_two = run(old, clock, ref, before + at_handover)
    new, clock = builder(handover, round_the_clock=rtc)
    for key in KEYS:
        if (state := old.state(key)) is not None:
            new.seed(key, **state._asdict())
    closed_two += run(new, clock, ref, resent + after)  # checked against one reference

    assert closed_two == closed_one and new.forming() == one.forming()
    end = after[-1][1] + 86_400
    assert new.seal(end) == one.seal(end)
