"""The decoder's snapping is round()'s, bit for bit, for every float32 a packet can carry:
its fast path (a magic-number rounding) is checked here against the plain formula."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dhan.decoder import Decoder, TickGrid
from dhan.packets import FULL_STRUCT, QUOTE_STRUCT, TICKER_STRUCT, DecodeError

TICK_SIZES = [0.01, 0.05, 0.0025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 0.000001]
FULL_PRICES = (4, 7, 14, 15, 16, 17, *(i + j for i in range(18, 48, 6) for j in (4, 5)))
QUOTE_PRICES = (4, 7, 11, 12, 13, 14)


def f32(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def _bits(price: float) -> int:
    return struct.unpack("<I", struct.pack("<f", price))[0]


def reference(price: float, tick: float, *, average: bool = False) -> float:
    """The snapping the decoder has always done, written plainly."""
    grid = TickGrid.of(tick)
    if average:
        return round(price * float(grid.scale)) / float(grid.scale)
    return round(price * (grid.scale / grid.units)) * grid.units / grid.scale


def same(a: float, b: float) -> bool:
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _fields(struct_: struct.Struct, code: int, prices: dict[int, float]) -> list:
    fields = [code, struct_.size, 1, 2885] + [7] * (len(struct_.unpack(bytes(struct_.size))) - 4)
    for index, price in prices.items():
        fields[index] = price
    return fields


float32_bits = st.integers(0, 2**32 - 1)  # every float32: NaNs, infinities, subnormals
market_bits = st.integers(1, 524_287 * 20).map(lambda n: _bits(n / 20))


@st.composite
def packet_bits(draw, n: int = 16) -> list[int]:
    """Prices for one packet, mostly all within one magnitude (2**e), so the fast path and
    its limit (2**50 over the scale, 2**30 to 2**44 rupees) are crossed, not only skipped
    because one of 16 random floats was huge."""
    e = draw(st.integers(-10, 127))
    bound = st.floats(-(2.0**e), 2.0**e, width=32, allow_nan=False, allow_infinity=False)
    near = bound.map(_bits)
    return draw(
        st.lists(st.one_of(near, near, near, market_bits, float32_bits), min_size=n, max_size=n)
    )


@settings(max_examples=3000, deadline=None)
@given(bits=packet_bits(), tick=st.sampled_from(TICK_SIZES))
@example(bits=[0x80000000] * 16, tick=0.05)  # -0.0
@example(bits=[0x7F800000] + [0x44C98B33] * 15, tick=0.05)  # infinity
@example(bits=[0x44C98B33] * 15 + [0x7FC00000], tick=0.05)  # NaN, last
@example(bits=[0x5F000000] * 16, tick=0.05)  # 2**63: past the fast path
@example(bits=[0xBF000000, 0x3F000000] * 8, tick=1)  # -0.5 and 0.5: ties to even
def test_full_and_quote_prices_snap_exactly_as_round_does(bits, tick):
    prices = [f32(b) for b in bits]
    decoder = Decoder({(1, 2885): tick})
    full = dict(zip(FULL_PRICES, prices, strict=True))
    quote = dict(zip(QUOTE_PRICES, prices, strict=False))
    for struct_, code, chosen in ((FULL_STRUCT, 8, full), (QUOTE_STRUCT, 4, quote)):
        frame = struct_.pack(*_fields(struct_, code, chosen))
        if not all(math.isfinite(p) for p in chosen.values()):
            with pytest.raises(DecodeError):
                decoder.decode(frame)
            continue
        (packet,) = decoder.decode(frame)
        expected = [reference(p, tick, average=i == 7) for i, p in chosen.items()]
        assert all(map(same, _prices(packet), expected)), (_prices(packet), expected)


def _prices(packet) -> list[float]:
    """A quote's or full packet's prices in field order (_FULL_PRICES's, _QUOTE_PRICES's)."""
    head = [packet.ltp, packet.avg_price, packet.open, packet.close, packet.high, packet.low]
    depth = getattr(packet, "depth", ())
    return head + [price for level in depth for price in (level.bid_price, level.ask_price)]


@settings(max_examples=3000, deadline=None)
@given(
    bits=st.one_of(packet_bits(1).map(lambda b: b[0]), market_bits),
    tick=st.sampled_from(TICK_SIZES),
    code=st.sampled_from([2, 6]),
)
@example(bits=0x7FC00000, tick=0.05, code=2)
@example(bits=0xFF800000, tick=0.05, code=6)
def test_ticker_and_prev_close_snap_exactly_as_round_does(bits, tick, code):
    price = f32(bits)
    frame = TICKER_STRUCT.pack(code, 16, 1, 2885, price, 0)
    decoder = Decoder({(1, 2885): tick})
    if not math.isfinite(price):
        with pytest.raises(DecodeError):
            decoder.decode(frame)
        return
    assert same(decoder.decode(frame)[0][2], reference(price, tick))
