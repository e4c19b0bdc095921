"""Sample screener runs for the demo (swing and longterm), bundled as JSON."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from django.db import transaction

from dhan.segments import SEGMENT_NAMES, InstrumentKey
from prices.models import Instrument
from screeners.models import ScreenerResult, ScreenerRun

SAMPLE_SCREENERS = Path(__file__).resolve().parent / "data" / "sample_screeners.json"


class SampleError(ValueError):
    """The sample refers to instruments that are not loaded, or is malformed."""


def load_sample_screeners(path: Path | str = SAMPLE_SCREENERS) -> list[ScreenerRun]:
    """Replace the sample runs (same type and time) with the file's; idempotent."""
    runs = json.loads(Path(path).read_text())["runs"]
    keys = {InstrumentKey.parse(row["key"]) for run in runs for row in run["rows"]}
    by_key = {
        i.key: i
        for i in Instrument.objects.filter(
            security_id__in={k.security_id for k in keys},
            exchange_segment__in={SEGMENT_NAMES[k.segment] for k in keys},
        )
    }
    missing = sorted(str(k) for k in keys if str(k) not in by_key)
    if missing:
        raise SampleError(f"instruments not loaded (run load_instruments first): {missing}")
    created = []
    with transaction.atomic():
        for run in runs:
            computed_at = datetime.fromisoformat(run["computed_at"])
            ScreenerRun.objects.filter(screener_type=run["type"], computed_at=computed_at).delete()
            screener_run = ScreenerRun.objects.create(
                screener_type=run["type"], computed_at=computed_at, notes="bundled sample"
            )
            ScreenerResult.objects.bulk_create(
                ScreenerResult(
                    run=screener_run,
                    instrument=by_key[row["key"]],
                    rank=rank,
                    score=row["score"],
                    close_price=row.get("close_price"),
                    change_20d_pct=row.get("change_20d_pct"),
                    rsi_14=row.get("rsi_14"),
                    volume_ratio=row.get("volume_ratio"),
                )
                for rank, row in enumerate(run["rows"], start=1)
            )
            created.append(screener_run)
    return created
