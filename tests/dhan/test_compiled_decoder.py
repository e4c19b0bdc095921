"""The decoder compiled with mypyc (`make compiled-decoder`, `tools/compile_decoder.py`):
used only when built from the current source, and decoding every frame, malformed ones
included, exactly as the pure-Python decoder does."""

from __future__ import annotations

import logging
import math
import random
import struct

import dhan.decoder as decoder
import dhan.decoderbuild as decoderbuild
from dhan.packets import FULL_STRUCT, QUOTE_STRUCT, TICKER_STRUCT, DecodeError

COMPILED = decoder.Decoder is not decoder.PureDecoder
TICKS = {(1, sid): tick for sid, tick in enumerate((0.05, 0.1, 0.25, 1, 2.5, 0.000001), 1)}


def _price(rng: random.Random) -> float:
    kind = rng.random()
    if kind < 0.9:
        return rng.uniform(0, 200_000)
    return rng.choice([math.nan, math.inf, -math.inf, 2.0**60, -(2.0**40), 1e-7, -0.0])


def _frame(rng: random.Random) -> bytes:
    """One to three packets, sometimes cut short or with a wrong length field."""
    out = b""
    for _ in range(rng.randint(1, 3)):
        code, st = rng.choice([(8, FULL_STRUCT), (4, QUOTE_STRUCT), (2, TICKER_STRUCT)])
        fields = []
        for fmt in st.format[1:]:
            fields.append(
                _price(rng) if fmt == "f" else rng.randrange(0, 2 ** (8 * struct.calcsize(fmt) - 1))
            )
        fields[:4] = [code, st.size, rng.choice([0, 1, 2, 3, 8]), rng.randint(0, 7)]
        if rng.random() < 0.02:
            fields[1] = st.size + 1
        out += st.pack(*fields)
    return out[: rng.randint(1, len(out))] if rng.random() < 0.05 else out


def _decoded(dec, frame: bytes):
    try:
        return dec.decode(frame)
    except DecodeError as exc:
        return f"DecodeError: {exc}"


def _same(a, b) -> bool:
    """Equal, NaN included (a NaN price in both)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


def test_compiled_decodes_every_frame_as_the_pure_decoder():
    assert COMPILED, "the compiled decoder is missing or stale: make compiled-decoder"
    rng = random.Random(20261205)
    compiled, pure = decoder.Decoder(TICKS), decoder.PureDecoder(TICKS)
    for _ in range(20_000):
        frame = _frame(rng)
        assert _same(_decoded(compiled, frame), _decoded(pure, frame)), frame.hex()


def test_a_build_from_another_source_is_not_used(monkeypatch, caplog):
    monkeypatch.setattr(decoder, "Decoder", decoder.PureDecoder)
    monkeypatch.setattr(decoderbuild, "source_digest", lambda: "an edited source")
    with caplog.at_level(logging.WARNING, logger="dhan.decoder"):
        decoderbuild.use_compiled(vars(decoder))
    assert decoder.Decoder is decoder.PureDecoder
    assert "older than dhan/decoder.py" in caplog.text
