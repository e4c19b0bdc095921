"""Which decoder runs: `make compiled-decoder` (part of `make test` and `make bench`;
`tools/compile_decoder.py`) compiles a copy of `dhan/decoder.py` with mypyc as
`dhan._compiled_decoder`, stamped with the digest of the sources it was made from. Its
`Decoder` replaces the pure one only while that digest is the sources': an edited decoder is
never shadowed by an old build, and without a build (no C compiler, `make run`'s
runtime-only venv) the pure-Python decoder runs. Called once, as `dhan.decoder` loads."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger("dhan.decoder")  # said where the decoder is

SOURCES = ("decoder.py", "packets.py", "ticks.py")


def source_digest() -> str:
    folder = Path(__file__).parent
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


def use_compiled(namespace: dict[str, Any]) -> None:
    """Replace `namespace["Decoder"]` (the decoder module's) with the compiled class when a
    build of the current sources exists."""
    try:
        from dhan import _compiled_decoder as compiled  # type: ignore[attr-defined]
    except ImportError:
        return
    if getattr(compiled, "SOURCE_DIGEST", None) != source_digest():
        logger.warning("dhan/_compiled_decoder is older than dhan/decoder.py: not used")
        return
    namespace["Decoder"] = compiled.Decoder
