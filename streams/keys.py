"""Stream keys: `type:swing|ids:1,2,3|symbols:RELIANCE,TCS|keys:NSE_EQ:2885` for market
feeds, `depth20` for the depth socket, `orders:<account id>` for an account's order socket.

One function builds market-feed keys (canonical order, so the same request always names
the same stream) and one parses them. Which instruments a key means is resolved here too:
the ids, symbols and keys it names, or, naming none, its type's source (`sources.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dhan.segments import InstrumentKey, InstrumentKeyError
from prices.models import Instrument
from streams.sources import instruments_of, is_stream_type, stream_types

ORDER_KEY_PREFIX = "orders:"  # an account's order socket: `orders:<broker account id>`


def order_stream_key(account_id: int) -> str:
    """The order socket's stream key of broker account `account_id` (the accounts app
    wants it as an account is linked; the orders app's kind reads it back)."""
    return f"{ORDER_KEY_PREFIX}{account_id}"


class StreamKeyError(ValueError):
    """A stream key or stream request that names nothing valid."""


@dataclass(frozen=True, slots=True)
class StreamSpec:
    screener_type: str
    ids: tuple[int, ...] = ()
    symbols: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return build_stream_key(
            screener_type=self.screener_type, ids=self.ids, symbols=self.symbols, keys=self.keys
        )


def build_stream_key(
    *,
    screener_type: str,
    ids: Iterable[int] = (),
    symbols: Iterable[str] = (),
    keys: Iterable[str] = (),
) -> str:
    """The one builder of stream keys; validates and canonicalises every part."""
    types = stream_types()
    if not is_stream_type(screener_type):
        raise StreamKeyError(f"unknown screener type {screener_type!r}: use {' or '.join(types)}")
    parts = [f"type:{screener_type}"]
    id_list = sorted({int(i) for i in ids})
    if any(i <= 0 for i in id_list):
        raise StreamKeyError("instrument ids must be positive integers")
    if id_list:
        parts.append("ids:" + ",".join(map(str, id_list)))
    symbol_list = sorted({s.strip().upper() for s in symbols if s.strip()})
    if any(not s.replace("-", "").replace("&", "").isalnum() for s in symbol_list):
        raise StreamKeyError(f"malformed symbol in {symbol_list}")
    if symbol_list:
        parts.append("symbols:" + ",".join(symbol_list))
    try:
        key_list = sorted({InstrumentKey.parse(k) for k in keys if k.strip()})
    except InstrumentKeyError as exc:
        raise StreamKeyError(str(exc)) from None
    if key_list:
        parts.append("keys:" + ",".join(map(str, key_list)))
    return "|".join(parts)


def parse_stream_key(text: str) -> StreamSpec:
    fields: dict[str, str] = {}
    for part in text.strip().split("|"):
        name, sep, value = part.partition(":")
        if not sep or name not in {"type", "ids", "symbols", "keys"} or name in fields:
            raise StreamKeyError(f"malformed stream key {text!r}")
        fields[name] = value
    if "type" not in fields:
        raise StreamKeyError(f"stream key {text!r} has no type")
    try:
        ids = tuple(int(i) for i in fields.get("ids", "").split(",") if i)
    except ValueError:
        raise StreamKeyError(f"malformed ids in stream key {text!r}") from None
    spec = StreamSpec(
        screener_type=fields["type"],
        ids=ids,
        symbols=tuple(s for s in fields.get("symbols", "").split(",") if s),
        keys=tuple(k for k in fields.get("keys", "").split(",") if k),
    )
    if spec.key != text.strip():
        raise StreamKeyError(f"stream key {text!r} is not canonical; use {spec.key!r}")
    return spec


def resolve_instruments(spec: StreamSpec) -> list[Instrument]:
    """The instruments a stream subscribes to. With no ids, symbols or keys: its type's
    source (a screener type's latest run, the index strip). Unknown ids, symbols or keys
    are errors, not omissions."""
    found: dict[str, Instrument] = {}
    if spec.ids:
        by_id = {i.pk: i for i in Instrument.objects.filter(pk__in=spec.ids)}
        missing_ids = sorted(set(spec.ids) - set(by_id))
        if missing_ids:
            raise StreamKeyError(f"unknown instrument ids: {missing_ids}")
        found.update((i.key, i) for i in by_id.values())
    if spec.symbols:
        rows = Instrument.objects.filter(trading_symbol__in=spec.symbols)
        by_symbol: dict[str, Instrument] = {}
        for inst in sorted(rows, key=lambda i: (i.exchange_segment != "NSE_EQ", i.pk)):
            by_symbol.setdefault(inst.trading_symbol, inst)  # NSE first, as traders expect
        missing_symbols = sorted(set(spec.symbols) - set(by_symbol))
        if missing_symbols:
            raise StreamKeyError(f"unknown symbols: {missing_symbols}")
        found.update((i.key, i) for i in by_symbol.values())
    if spec.keys:
        wanted = [InstrumentKey.parse(k) for k in spec.keys]
        rows = Instrument.objects.filter(security_id__in={k.security_id for k in wanted})
        by_key = {i.key: i for i in rows}
        missing_keys = sorted(str(k) for k in wanted if str(k) not in by_key)
        if missing_keys:
            raise StreamKeyError(f"unknown instrument keys: {missing_keys}")
        found.update((str(k), by_key[str(k)]) for k in wanted)
    if not (spec.ids or spec.symbols or spec.keys):
        try:
            found.update((i.key, i) for i in instruments_of(spec.screener_type))
        except LookupError as exc:
            raise StreamKeyError(str(exc)) from None
    return list(found.values())
