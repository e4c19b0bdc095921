"""A simulated backfill of the NSE equities' daily history (the 2,428 EQ-series stocks of
DhanHQ's scrip master, a year each) from the bundled simulator, which enforces DhanHQ's
Data API limit (5 calls a second, 429 DH-904 past it): the time it takes at our gate's
pace, and the 429s met (the target: none). In a child process with a SQLite database of
its own and the simulator in that process. `BENCH_BACKFILL_INSTRUMENTS=N` takes the
first N for a quicker run."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        env = os.environ | {
            "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "DJANGO_SETTINGS_MODULE": "marketstream.settings",
        }
        env.pop("REDIS_URL", None)
        subprocess.run(
            [sys.executable, "-m", "bench.bench_backfill", "--measure"],
            cwd=ROOT,
            env=env,
            check=True,
        )


def _measure() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from dhan.simulator import DhanSimulator, SimulatorConfig
    from history.backfill import backfill
    from prices.models import Instrument
    from tests.support.instruments import full_scrip_master

    call_command("migrate", verbosity=0)
    call_command("load_instruments", str(full_scrip_master()), verbosity=0)
    rows = Instrument.objects.filter(exchange_segment="NSE_EQ", series="EQ").order_by("security_id")
    limit = int(os.environ.get("BENCH_BACKFILL_INSTRUMENTS") or 0) or None
    keys = [i.key for i in rows[:limit]]
    ticks = {i.instrument_key: float(i.tick_size) for i in rows}
    sim = DhanSimulator(
        SimulatorConfig(port=0, rest_port=0, data_requests_per_second=5.0),
        tick_size=lambda key: ticks.get(key, 0.05),
    ).start()
    settings.DHANHQ_API_URL = f"http://127.0.0.1:{sim.rest_port}/v2"
    settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN = "1000000001", "demo-token"
    try:
        last = date.today() - timedelta(days=1)
        summary = backfill(timeframe="1d", keys=keys, first=last - timedelta(days=365), last=last)
    finally:
        sim.stop()
    counts = sim.data_call_counts().get("1000000001")
    refused = counts.refused if counts else 0
    rate = summary.calls / summary.elapsed_seconds if summary.elapsed_seconds else 0.0
    print(f"backfill: {len(keys):,} NSE equities' daily history (a year each) from the simulator")
    print(
        f"  {summary.calls:,} calls, {summary.bars:,} bars in {summary.elapsed_seconds:.0f} s "
        f"({rate:.2f} calls/s against DhanHQ's 5); 429s met: {summary.rate_limited} "
        f"(the simulator refused {refused}; target 0: {'met' if refused == 0 else 'NOT met'}); "
        f"failed: {summary.failed}"
    )


if __name__ == "__main__":
    if "--measure" in sys.argv:
        _measure()
    else:
        main()
