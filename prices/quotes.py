"""The QUOTE and BOOK records of the public contract, built from decoded DhanHQ packets.

A QUOTE is `{"ltp", "ltq", "ltt", "atp", "volume", "open", "high", "low", "prev_close",
"change", "change_pct", "total_buy_qty", "total_sell_qty", "oi"}` (null where the feed mode
does not carry a field); a BOOK is `{"levels", "source", "ts", "bids": [...], "asks": [...]}`
with levels `{"price", "quantity", "orders"}`, best first. Called by the market feed as it
collects a window of packets; what it builds goes to the cache through the price sink.
"""

from __future__ import annotations

from collections.abc import Iterable

from dhan.clock import ist_datetime, unix_from_ltt
from dhan.packets import Full, Quote
from dhan.segments import SEGMENT_CODES

INDEX_SEGMENT = SEGMENT_CODES["IDX_I"]
CHANGE_DECIMALS = 4  # enough for every tick grid (currency ticks are 0.0025)


def previous_close(packet: Quote | Full) -> float | None:
    """DhanHQ's previous close in a quote or full packet: its `close` field, for every
    segment but indices (whose previous close comes in a code-6 packet of its own)."""
    if packet.segment == INDEX_SEGMENT or not packet.close:
        return None
    return packet.close


def quote_record(packet: Quote | Full, *, prev_close: float | None, oi: int | None) -> dict:
    ltp = packet.ltp
    change: float | None = None
    change_pct: float | None = None
    if prev_close:
        change = round(ltp - prev_close, CHANGE_DECIMALS)
        change_pct = round(change / prev_close * 100, 2)
    return {
        "ltp": ltp,
        "ltq": packet.ltq,
        # The feed's LTT counts IST wall-clock seconds: shown as the IST time it is.
        "ltt": ist_datetime(unix_from_ltt(packet.ltt)).isoformat() if packet.ltt else None,
        "atp": packet.avg_price,
        "volume": packet.volume,
        "open": packet.open,
        "high": packet.high,
        "low": packet.low,
        "prev_close": prev_close,
        "change": change,
        "change_pct": change_pct,
        "total_buy_qty": packet.total_buy_quantity,
        "total_sell_qty": packet.total_sell_quantity,
        "oi": packet.oi if isinstance(packet, Full) else oi,
    }


def book_from_full(packet: Full, *, ts: float) -> dict:
    """The 5-level book a full packet carries (`source: full`); empty levels dropped."""
    bids = [
        {"price": d.bid_price, "quantity": d.bid_quantity, "orders": d.bid_orders}
        for d in packet.depth
        if d.bid_quantity
    ]
    asks = [
        {"price": d.ask_price, "quantity": d.ask_quantity, "orders": d.ask_orders}
        for d in packet.depth
        if d.ask_quantity
    ]
    return {"levels": 5, "source": "full", "ts": ts, "bids": bids, "asks": asks}


def book_from_depth(bids: Iterable[tuple], asks: Iterable[tuple], *, ts: float) -> dict:
    """A 20-level BOOK (`source: depth20`) from rows of (price, quantity, orders), best
    first as the depth feed sends them; empty levels dropped."""

    def side(rows: Iterable[tuple]) -> list[dict]:
        return [{"price": p, "quantity": q, "orders": o} for p, q, o in rows if q]

    return {"levels": 20, "source": "depth20", "ts": ts, "bids": side(bids), "asks": side(asks)}


# The top bar's index strip (`templates/base.html`), streamed as `type:indices`.
INDEX_STRIP_STREAM = "indices"
INDEX_STRIP = (("IDX_I:13", "NIFTY 50"), ("IDX_I:25", "BANKNIFTY"), ("IDX_I:51", "SENSEX"))
