"""Instrument tables tests read without a database: the bundled sample's tick sizes (for
a simulator in the test's process, so its prices fall on the grid the instrument table
says) and DhanHQ's full scrip master (prices/data/README.md), unpacked once per process."""

from __future__ import annotations

import functools
import gzip
import tempfile
from collections.abc import Callable
from pathlib import Path

from dhan.segments import InstrumentKey
from tests.support.processes import ROOT

# DhanHQ's compact scrip master, NSE and BSE equities and indices as of 2026-07 (23,116
# rows), gzipped, as `load_instruments` loads by default: see prices/data/README.md.
FULL_SCRIP_MASTER_GZ = (
    ROOT / "prices" / "data" / "dhan-scrip-master-nse-bse-equity-index-2026-07.csv.gz"
)
DEFAULT_TICK_SIZE = 0.05


@functools.cache
def full_scrip_master() -> Path:
    """The full scrip master as a CSV file (unpacked once per test process)."""
    path = Path(tempfile.mkdtemp(prefix="scrip-master-")) / FULL_SCRIP_MASTER_GZ.stem
    path.write_bytes(gzip.decompress(FULL_SCRIP_MASTER_GZ.read_bytes()))
    return path


def sample_tick_sizes() -> Callable[[InstrumentKey], float]:
    """The bundled scrip master's tick sizes, read without a database."""
    from prices.instruments import SAMPLE_SCRIP_MASTER, LoadReport, read_scrip_master

    with open(SAMPLE_SCRIP_MASTER) as lines:
        rows = list(read_scrip_master(lines, LoadReport()))
    ticks = {i.instrument_key: float(i.tick_size) for i in rows}
    return lambda key: ticks.get(key, DEFAULT_TICK_SIZE)
