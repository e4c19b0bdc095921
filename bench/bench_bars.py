"""`GET /api/v1/bars` on PostgreSQL: a year of `1d` bars (target p50 <= 5 ms) and 5,000
`1m` bars (target p50 <= 20 ms), through Django's whole request path (middleware, the
view, JSON) in one process, against a real PostgreSQL server started for the run
(tests/support/postgres.py). The measuring runs in a child process whose DATABASE_URL is
that server's."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "NSE_EQ:2885"
REQUESTS = 200
TARGETS_MS = {"1d": 5.0, "1m": 20.0}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from tests.support.postgres import PostgresServer

    server = PostgresServer()
    try:
        url = server.create_database("bench_bars")
        env = os.environ | {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "marketstream.settings"}
        env.pop("REDIS_URL", None)
        subprocess.run(
            [sys.executable, "-m", "bench.bench_bars", "--measure"], cwd=ROOT, env=env, check=True
        )
    finally:
        server.stop()


def _fill() -> None:
    from history import store
    from history.timeframes import Bar, day_start

    start = date(2025, 12, 1)
    days = [start + timedelta(days=i) for i in range(366)]
    store.upsert(
        KEY,
        "1d",
        [
            Bar(day_start(d), 2845.05, 2850.0, 2840.1, 2846.15, 100_000)
            for d in days
            if d.weekday() < 5
        ],
    )
    first = day_start(date(2026, 11, 2)) + (9 * 60 + 15) * 60
    minutes = [first + 86_400 * (i // 375) + 60 * (i % 375) for i in range(6000)]
    store.upsert(KEY, "1m", [Bar(t, 2845.05, 2845.5, 2844.9, 2845.25, 120) for t in minutes])


def _measure() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    _fill()
    client = Client(HTTP_HOST="localhost")
    print("bars API on PostgreSQL (Django's request path in one process):")
    for tf, query, what in (
        ("1d", f"key={KEY}&tf=1d&from=2025-12-06", "a year of 1d bars"),
        ("1m", f"key={KEY}&tf=1m&limit=5000", "5,000 1m bars"),
    ):
        times, count = [], 0
        for _ in range(REQUESTS):
            started = time.perf_counter()
            answer = client.get(f"/api/v1/bars?{query}")
            times.append(time.perf_counter() - started)
            count = len(answer.json()["bars"])
        p50 = statistics.median(times) * 1000
        p99 = sorted(times)[int(len(times) * 0.99) - 1] * 1000
        target = TARGETS_MS[tf]
        print(
            f"  {what} ({count:,} bars): p50 {p50:.2f} ms, p99 {p99:.2f} ms "
            f"(target p50 <= {target:.0f} ms: {'met' if p50 <= target else 'NOT met'})"
        )


if __name__ == "__main__":
    if "--measure" in sys.argv:
        _measure()
    else:
        main()
