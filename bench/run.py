"""`make bench`: every benchmark in one run; each prints its figures."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketstream.settings")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "*")

import django  # noqa: E402

django.setup()

from bench import (  # noqa: E402
    bench_alerts,
    bench_backfill,
    bench_bars,
    bench_broadcast,
    bench_candles,
    bench_clients,
    bench_codec,
    bench_connect,
    bench_distribution,
    bench_screen_runs,
    bench_screens,
)

if __name__ == "__main__":
    only = set(sys.argv[1:])
    for name, module in (
        ("codec", bench_codec),
        ("candles", bench_candles),  # beside the scanner's figure
        ("distribution", bench_distribution),
        ("broadcast", bench_broadcast),
        ("connect", bench_connect),
        ("alerts", bench_alerts),
        ("bars", bench_bars),
        ("screens", bench_screens),
        ("screen_runs", bench_screen_runs),  # about 90 s: SQLite, then PostgreSQL
        ("backfill", bench_backfill),  # about 9 minutes: at the Data API limit
        ("clients", bench_clients),
    ):
        if not only or name in only:
            module.main()
            print()
