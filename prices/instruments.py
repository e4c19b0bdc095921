"""Loading DhanHQ's compact scrip master (api-scrip-master.csv) into `Instrument` rows.

Called by `manage.py load_instruments`. All-or-nothing: rows are validated first, bad ones
reported with their line numbers and skipped, and the good ones upserted in one transaction.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

from dhan.segments import MAX_SECURITY_ID
from prices.models import Instrument

SAMPLE_SCRIP_MASTER = Path(__file__).resolve().parent / "data" / "scrip_master_sample.csv"
# DhanHQ's compact scrip master, NSE and BSE equities and indices as of 2026-07 (23,116
# rows, 2,428 NSE EQ-series stocks among them), gzipped: `load_instruments`' default.
SCRIP_MASTER = (
    Path(__file__).resolve().parent
    / "data"
    / "dhan-scrip-master-nse-bse-equity-index-2026-07.csv.gz"
)
REQUIRED_COLUMNS = (
    "SEM_EXM_EXCH_ID",
    "SEM_SEGMENT",
    "SEM_SMST_SECURITY_ID",
    "SEM_INSTRUMENT_NAME",
    "SEM_TRADING_SYMBOL",
    "SEM_TICK_SIZE",
)
# (exchange, segment letter) -> feed segment; any exchange's index rows are IDX_I.
FEED_SEGMENTS = {
    ("NSE", "E"): "NSE_EQ",
    ("NSE", "D"): "NSE_FNO",
    ("NSE", "C"): "NSE_CURRENCY",
    ("BSE", "E"): "BSE_EQ",
    ("BSE", "D"): "BSE_FNO",
    ("BSE", "C"): "BSE_CURRENCY",
    ("MCX", "M"): "MCX_COMM",
}
PAISE_PER_RUPEE = Decimal(100)
UPSERT_BATCH_ROWS = 2000


class ScripMasterError(ValueError):
    """The file as a whole cannot be loaded (missing, unreadable, wrong columns)."""


@dataclass(frozen=True, slots=True)
class SkippedRow:
    line: int
    reason: str


@dataclass(slots=True)
class LoadReport:
    loaded: int = 0
    created: int = 0
    skipped: list[SkippedRow] = field(default_factory=list)


def tick_size_rupees(raw: str, *, segment_letter: str) -> Decimal:
    """SEM_TICK_SIZE is in paise except on index rows, where it is in rupees.

    RELIANCE 10 -> 0.10, MRF 500 -> 5.00 (NSE's price bands), NIFTY 0.05 -> 0.05.
    """
    value = Decimal(raw.strip())
    if not value.is_finite() or value <= 0:
        raise ValueError(f"tick size must be positive, got {raw!r}")
    return value if segment_letter == "I" else value / PAISE_PER_RUPEE


def _parse_row(row: dict[str, str]) -> Instrument:
    exchange = (row.get("SEM_EXM_EXCH_ID") or "").strip().upper()
    letter = (row.get("SEM_SEGMENT") or "").strip().upper()
    segment = "IDX_I" if letter == "I" else FEED_SEGMENTS.get((exchange, letter))
    if segment is None:
        raise ValueError(f"unknown exchange/segment {exchange!r}/{letter!r}")
    sid_text = (row.get("SEM_SMST_SECURITY_ID") or "").strip()
    if not sid_text.isdigit() or not 0 < int(sid_text) <= MAX_SECURITY_ID:
        raise ValueError(f"bad security id {sid_text!r}")
    symbol = (row.get("SEM_TRADING_SYMBOL") or "").strip()
    if not symbol or len(symbol) > 64:
        raise ValueError(f"bad trading symbol {symbol!r}")
    try:
        tick = tick_size_rupees(row.get("SEM_TICK_SIZE") or "", segment_letter=letter)
        lot_text = (row.get("SEM_LOT_UNITS") or "1").strip() or "1"
        lot = int(Decimal(lot_text))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"bad tick size or lot units: {exc}") from None
    exponent = tick.as_tuple().exponent  # an int: tick_size_rupees admits finite ticks only
    if lot < 0 or not isinstance(exponent, int) or exponent < -4:
        raise ValueError(f"bad tick size {tick} or lot units {lot}")
    name = (row.get("SM_SYMBOL_NAME") or row.get("SEM_CUSTOM_SYMBOL") or symbol).strip()
    return Instrument(
        exchange_segment=segment,
        security_id=int(sid_text),
        exchange=exchange,
        trading_symbol=symbol,
        name=name[:200],
        instrument_type=(row.get("SEM_INSTRUMENT_NAME") or "").strip()[:32],
        series=(row.get("SEM_SERIES") or "").strip()[:8],
        tick_size=tick,
        lot_size=max(lot, 1),
    )


def read_scrip_master(lines: Iterable[str], report: LoadReport) -> Iterator[Instrument]:
    """Yield valid instruments; record bad rows (line numbers count the header as 1)."""
    reader = csv.DictReader(lines)
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ScripMasterError(f"not a DhanHQ scrip master: missing columns {missing}")
    seen: dict[tuple[str, int], int] = {}
    for row in reader:
        line = reader.line_num
        if None in row or any(v is None for v in row.values()):
            report.skipped.append(SkippedRow(line, "wrong number of columns"))
            continue
        try:
            instrument = _parse_row(row)
        except ValueError as exc:
            report.skipped.append(SkippedRow(line, str(exc)))
            continue
        key = (instrument.exchange_segment, instrument.security_id)
        if key in seen:
            report.skipped.append(SkippedRow(line, f"duplicate of line {seen[key]}"))
            continue
        seen[key] = line
        yield instrument


def load_scrip_master(path: Path | str) -> LoadReport:
    """Validate the whole file, then upsert every good row in one transaction."""
    report = LoadReport()
    try:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rt", newline="", encoding="utf-8-sig") as handle:
            instruments = list(read_scrip_master(handle, report))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise ScripMasterError(f"cannot read {path}: {exc}") from None
    before = Instrument.objects.count()
    with transaction.atomic():
        for start in range(0, len(instruments), UPSERT_BATCH_ROWS):
            Instrument.objects.bulk_create(
                instruments[start : start + UPSERT_BATCH_ROWS],
                update_conflicts=True,
                unique_fields=["exchange_segment", "security_id"],
                update_fields=[
                    "exchange",
                    "trading_symbol",
                    "name",
                    "instrument_type",
                    "series",
                    "tick_size",
                    "lot_size",
                    "updated_at",
                ],
            )
    report.loaded = len(instruments)
    report.created = Instrument.objects.count() - before
    return report
