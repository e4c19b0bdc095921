"""The simulator's daily history: deterministic bars for any instrument, Monday to Friday
back to a listing date of its own, whose last close before today is the feed's previous
close (the price book's starting price). Pure arithmetic of the key and the day, never the
process's RNG, so every process and restart agrees (on the same IST day: the history ends
where today's prices start). Read by `charts.ChartServer`; a past day's minutes are
`sessions`'s.

A day's close is the previous close times exp(level(day) - level(last trading day)), where
level is a sum of slow cycles (periods of a week to three years, amplitudes growing as a
random walk's do) plus a day's own noise: any day's bar is computed alone, in microseconds.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import NormalDist
from typing import NamedTuple

from dhan.segments import InstrumentKey

DERIVATIVE_SEGMENTS = frozenset({2, 3, 5, 7, 8})
LISTED_FROM = date(2008, 1, 1)  # the earliest listing date
LISTING_SPREAD_DAYS = 12 * 365  # listings fall in the 12 years after it, by key
CYCLE_PERIODS_DAYS = (5, 11, 23, 47, 97, 199, 401, 809)
CYCLE_AMPLITUDE_PER_SQRT_DAY = 0.006  # log-price swing of a cycle, times sqrt(period)
DAILY_NOISE = 0.01  # standard deviation of a day's own log-price move
GAP_NOISE = 0.004  # of the open against the previous close
WICK_FRACTION = 0.012  # at most this much of the price beyond the open/close body
MIN_BASE_VOLUME, VOLUME_DECADES = 10_000, 2.5  # a key's typical day: 10,000 to 3,000,000
UNIT_SCALE = float(1 << 32)
_NORMAL = NormalDist()


class DayBar(NamedTuple):
    """A past day's bar in ticks of the instrument's grid."""

    day: date
    open: int
    high: int
    low: int
    close: int
    volume: int
    oi: int


def units(*parts: object) -> tuple[float, ...]:
    """Eight numbers in (0, 1) fixed by `parts` (a key, a day, a purpose): the simulator's
    deterministic randomness."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=32).digest()
    return tuple(
        (int.from_bytes(digest[i : i + 4], "little") + 0.5) / UNIT_SCALE for i in range(0, 32, 4)
    )


@dataclass(frozen=True, slots=True)
class _Profile:
    listing: date
    phases: tuple[float, ...]
    amplitudes: tuple[float, ...]
    base_volume: int
    base_oi: int  # 0 outside derivatives


@functools.lru_cache(maxsize=8192)
def _profile(key: InstrumentKey) -> _Profile:
    u = units(key, "profile")
    shape = units(key, "cycles")
    amplitudes = tuple(
        CYCLE_AMPLITUDE_PER_SQRT_DAY * math.sqrt(period) * (0.5 + shape[i])
        for i, period in enumerate(CYCLE_PERIODS_DAYS)
    )
    base_volume = round(MIN_BASE_VOLUME * 10 ** (VOLUME_DECADES * u[1]))
    return _Profile(
        listing=LISTED_FROM + timedelta(days=int(u[0] * LISTING_SPREAD_DAYS)),
        phases=tuple(2 * math.pi * x for x in units(key, "phases")),
        amplitudes=amplitudes,
        base_volume=base_volume,
        base_oi=base_volume * 10 if key.segment in DERIVATIVE_SEGMENTS else 0,
    )


def listing_date(key: InstrumentKey) -> date:
    """The first day `key` has history."""
    return _profile(key).listing


def previous_trading_day(day: date) -> date:
    """The last Monday-to-Friday before `day` (the simulator has no holiday list)."""
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def trading_days(start: date, end: date) -> Iterator[date]:
    """Monday to Friday from `start` up to, not including, `end`."""
    day = start
    while day < end:
        if day.weekday() < 5:
            yield day
        day += timedelta(days=1)


class DailyCurve:
    """One instrument's daily history as of `today`, its last close before today pinned
    to `prev_close_ticks`."""

    def __init__(self, key: InstrumentKey, *, prev_close_ticks: int, today: date) -> None:
        self.key = key
        self.profile = _profile(key)
        self._prev_close = prev_close_ticks
        self._anchor = self._level(previous_trading_day(today))

    def _level(self, day: date) -> float:
        n = day.toordinal()
        p = self.profile
        cycles = sum(
            a * math.sin(2 * math.pi * n / period + phase)
            for a, period, phase in zip(p.amplitudes, CYCLE_PERIODS_DAYS, p.phases, strict=True)
        )
        return cycles + DAILY_NOISE * _NORMAL.inv_cdf(units(self.key, day)[0])

    def close(self, day: date) -> int:
        """`day`'s close in ticks (on the last trading day before today: the book's
        previous close, exactly)."""
        return max(1, round(self._prev_close * math.exp(self._level(day) - self._anchor)))

    def bar(self, day: date, *, prev_close: int | None = None) -> DayBar:
        """`day`'s bar; `prev_close` (the previous trading day's close) spares computing it
        again in a run of days."""
        if prev_close is None:
            prev_close = self.close(previous_trading_day(day))
        close = self.close(day)
        u = units(self.key, day)
        opening = max(1, round(prev_close * math.exp(GAP_NOISE * _NORMAL.inv_cdf(u[1]))))
        top, bottom = max(opening, close), min(opening, close)
        move = abs(math.log(close / prev_close))
        base = self.profile.base_volume
        return DayBar(
            day,
            opening,
            top + round(top * WICK_FRACTION * u[2]),
            max(1, bottom - round(bottom * WICK_FRACTION * u[3])),
            close,
            max(1, round(base * (0.4 + 1.2 * u[4]) * (1 + 8 * move))),
            round(self.profile.base_oi * (0.8 + 0.4 * u[5])),
        )

    def bars(self, start: date, end: date) -> list[DayBar]:
        """The trading days' bars from `start` up to, not including, `end`, none before
        the listing (the caller keeps `end` at most today)."""
        out: list[DayBar] = []
        prev_close: int | None = None
        for day in trading_days(max(start, self.profile.listing), end):
            bar = self.bar(day, prev_close=prev_close)
            out.append(bar)
            prev_close = bar.close
        return out
