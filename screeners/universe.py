"""A screen's universe: `segment:NSE_EQ` (the segment's stocks; on NSE's and BSE's cash
segments the normal-market EQ series only on NSE, every scrip on BSE), `screener:SLUG`
(another screen's latest results) or `keys:K,K,...`. Parsed when a screen is saved
(`screeners.validation`) and resolved to instruments as it runs (`screeners.runs`)."""

from __future__ import annotations

from dataclasses import dataclass

from dhan.segments import SEGMENT_CODES, InstrumentKey, InstrumentKeyError
from prices.models import Instrument

MAX_KEYS = 5000
# NSE's cash segment lists other series (BE trade-to-trade, SM/ST SME, bonds, ETFs under
# EQ too); a segment universe of NSE_EQ is its normal market, the EQ series.
SEGMENT_SERIES = {"NSE_EQ": "EQ"}
RUN_FIELDS = ("id", "exchange_segment", "security_id", "trading_symbol")


class UniverseError(ValueError):
    """A universe text that names nothing valid; the message says what."""


@dataclass(frozen=True, slots=True)
class Universe:
    kind: str  # segment | screener | keys
    value: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.kind}:{','.join(self.value)}"


def parse_universe(text: str) -> Universe:
    kind, sep, rest = (text or "").strip().partition(":")
    if not sep or kind not in ("segment", "screener", "keys"):
        raise UniverseError("universe must be segment:SEGMENT, screener:SLUG or keys:K,K,...")
    if kind == "segment":
        if rest not in SEGMENT_CODES:
            raise UniverseError(f"unknown segment {rest!r}: use {', '.join(SEGMENT_CODES)}")
        return Universe(kind, (rest,))
    if kind == "screener":
        if not rest or not rest.replace("-", "").replace("_", "").isalnum():
            raise UniverseError("screener:SLUG names another screen by its slug")
        return Universe(kind, (rest,))
    try:
        keys = tuple(dict.fromkeys(str(InstrumentKey.parse(k)) for k in rest.split(",") if k))
    except InstrumentKeyError as exc:
        raise UniverseError(str(exc)) from None
    if not keys or len(keys) > MAX_KEYS:
        raise UniverseError(f"keys: names 1 to {MAX_KEYS} instrument keys")
    return Universe(kind, keys)


def instruments(universe: Universe, *, screen_rows=None) -> list[Instrument]:
    """The universe's instruments, in a stable order. `screen_rows(slug)` gives another
    screen's latest rows (the runner passes `latest_run_instruments`; LookupError: none)."""
    if universe.kind == "segment":
        segment = universe.value[0]
        rows = Instrument.objects.filter(exchange_segment=segment)
        if segment in SEGMENT_SERIES:
            rows = rows.filter(series=SEGMENT_SERIES[segment])
        # What a run needs of each (its key, symbol and row id): 2,428 rows in ms.
        return list(rows.only(*RUN_FIELDS).order_by("security_id"))
    if universe.kind == "screener":
        try:
            return list(screen_rows(universe.value[0])) if screen_rows else []
        except LookupError:
            return []
    wanted = [InstrumentKey.parse(k) for k in universe.value]
    rows = Instrument.objects.filter(security_id__in={k.security_id for k in wanted})
    by_key = {i.key: i for i in rows}
    return [by_key[str(k)] for k in wanted if str(k) in by_key]
