"""Ten screens re-run on the forming bar through the real runner, as the beat's
`screeners.run_due` runs them: 2,428 NSE EQ stocks x 300 daily bars in the bar store, a
forming daily bar each in the price cache (embedded mode). The cold run (an empty
`ClosedBars`), then the re-run every N minutes after every forming bar moved (target: the ten
within 1 s), split into its parts and checked (each run on the forming bar, its rows' prices
the forming closes). On SQLite, then PostgreSQL; each in a child process."""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIRST_SECURITY_ID = 900_001  # synthetic instruments, clear of the scrip master's ids
SETTINGS = "marketstream.settings"
SEED = 22
TICK = Decimal("0.05")  # rupees
TARGET_MS = 1_000.0
WARM_RUNS = 3
SCHEDULE = "every_5_minutes"
UNIVERSE = "segment:NSE_EQ"
TEXT_FIELDS = ("condition", "columns", "rank_by")
LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
CACHE_ENTRIES_FOR_RUN = 100_000  # an embedded cache that holds every key's CANDLE record
# Four screens of our own beside swing, longterm and the presets: (condition, columns, rank).
VARIATIONS = {
    "swing-fast": (
        "close > sma(close, 20) and rsi(close, 7) > 55 and change_pct(close, 10) > 0",
        {"close": "close", "rsi_7": "rsi(close, 7)"},
        "change_pct(close, 10)",
    ),
    "trend-100": (
        "close > sma(close, 100) and sma(close, 100) > sma(close, 100)[10]",
        {"close": "close", "sma_100": "sma(close, 100)"},
        "change_pct(close, 60)",
    ),
    "ema-cross": (
        "ema(close, 12) crosses above ema(close, 26)",
        {"close": "close", "ema_12": "ema(close, 12)", "ema_26": "ema(close, 26)"},
        "volume / sma(volume, 20)",
    ),
    "20d-breakout": (
        "close > max(high, 20)[1] and volume > 2 * sma(volume, 20)",
        {"close": "close", "atr_14": "atr(14)"},
        "volume / sma(volume, 20)",
    ),
}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from tests.support.postgres import PostgresServer

    with tempfile.TemporaryDirectory(prefix="bench-screen-runs-") as tmp:
        _child(f"sqlite:///{tmp}/bench.sqlite3", "SQLite")
    server = PostgresServer()
    try:
        _child(server.create_database("bench_screen_runs"), "PostgreSQL")
    finally:
        server.stop()


def _child(database_url: str, name: str) -> None:
    env = os.environ | {"DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": SETTINGS}
    env.pop("REDIS_URL", None)  # embedded: the forming bars in the process's own cache
    command = [sys.executable, "-m", "bench.bench_screen_runs", "--measure", name]
    subprocess.run(command, cwd=ROOT, env=env, check=True)


# --- in the child ------------------------------------------------------------------------


def _fill() -> dict:
    """The universe's instruments and their closed daily bars (up to yesterday); a forming
    bar for each key, opening at its last close."""
    from django.db import transaction

    from bench.bench_screens import random_universe
    from history import store
    from history.timeframes import Bar, day_start, ist_day
    from prices.models import Instrument

    bars = random_universe()
    count, length = bars.close.shape
    ids = range(FIRST_SECURITY_ID, FIRST_SECURITY_ID + count)
    eq = {"exchange_segment": "NSE_EQ", "exchange": "NSE", "series": "EQ", "tick_size": TICK}
    Instrument.objects.bulk_create(
        Instrument(security_id=i, trading_symbol=f"STOCK{i}", instrument_type="EQUITY", **eq)
        for i in ids
    )
    keys = [f"NSE_EQ:{i}" for i in ids]
    today = ist_day(time.time())
    days = [today - timedelta(days=n) for n in range(1, 2 * length)]
    starts = [day_start(d) for d in days if d.weekday() < 5][:length][::-1]
    fields = [np.round(getattr(bars, f), 2) for f in ("open", "high", "low", "close")]
    with transaction.atomic():
        store.upsert_many(
            "1d",
            (
                (keys[row], Bar(starts[col], *(float(f[row, col]) for f in fields), int(v)))
                for row in range(count)
                for col, v in enumerate(bars.volume[row])
                if np.isfinite(v)
            ),
        )
    start = day_start(today)
    last = [float(fields[3][row][np.isfinite(fields[3][row])][-1]) for row in range(count)]
    return {key: Bar(start, c, c, c, c, 0) for key, c in zip(keys, last, strict=True)}


def _screens() -> list:
    """Ten screens over the segment, due every five minutes."""
    from screeners.models import Screen
    from screeners.shipped import PRESETS

    Screen.objects.filter(slug__in=("swing", "longterm")).update(schedule=SCHEDULE)
    texts = {slug: [p[f] for f in TEXT_FIELDS] for slug, p in PRESETS.items()} | VARIATIONS
    for slug, text in texts.items():
        fields = dict(zip(TEXT_FIELDS, text, strict=True))
        Screen.objects.create(slug=slug, name=slug, universe=UNIVERSE, schedule=SCHEDULE, **fields)
    return list(Screen.objects.filter(schedule=SCHEDULE).order_by("pk"))


def _move(forming: dict, rng: np.random.Generator) -> float:
    """Every forming daily bar ticks on (close, high, low, volume), written as the feed
    worker writes CANDLE records (`history.candles`: through the price sink); the ms."""
    from prices.sink import PriceSink

    for key, bar in list(forming.items()):
        close = round(bar.c * float(np.exp(rng.normal(0, 0.004))), 2)
        volume = bar.v + int(rng.integers(100, 50_000))
        forming[key] = bar._replace(h=max(bar.h, close), l=min(bar.l, close), c=close, v=volume)
    started = time.perf_counter()
    sink = PriceSink()
    sink.put_candles({k: {"forming": {"1d": b.as_json()}} for k, b in forming.items()})
    sink.flush()
    return (time.perf_counter() - started) * 1000


# The runner's parts, timed by wrapping what `screeners.runs` and `screeners.barcache` look
# up at call time: (part, module, attribute; a method is wrapped on its class).
PARTS = (
    ("universe", "screeners.runs", "instruments"),
    ("load", "screeners.barcache", "load"),
    ("closed bars", "screeners.barcache", "ClosedBars.closed"),
    ("read candles", "history.live", "read_records"),
    ("lay forming", "history.arrays", "with_forming"),
    ("evaluate", "screeners.runs", "evaluate"),
    ("store rows", "screeners.runs", "_store"),
)


@contextmanager
def _timing(ms: dict[str, float]):
    """Within: the milliseconds spent in each of PARTS added up in `ms`."""
    from importlib import import_module

    def timed(part: str, call):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                ms[part] = ms.get(part, 0.0) + (time.perf_counter() - started) * 1000

        return wrapper

    with ExitStack() as stack:
        for part, module, path in PARTS:
            owner, (*within, name) = import_module(module), path.split(".")
            for attribute in within:
                owner = getattr(owner, attribute)
            stack.callback(setattr, owner, name, getattr(owner, name))
            setattr(owner, name, timed(part, getattr(owner, name)))
        yield


def _run_all(screens: list, kept, ms: dict[str, float]) -> list[tuple]:
    """The ten, one after another, as `screeners.run_due` runs them: (screen, run, total ms,
    ms by part) each."""
    from screeners import runs
    from screeners.models import ScreenRun

    done = []
    for screen in screens:
        ms.clear()
        started = time.perf_counter()
        run = ScreenRun.objects.create(screen=screen, trigger=ScreenRun.Trigger.INTERVAL)
        run = runs.execute(run.pk, forming=True, kept=kept)
        done.append((screen, run, (time.perf_counter() - started) * 1000, dict(ms)))
    return done


def _check(done: list[tuple], forming: dict) -> str:
    """Whether every run ran on the forming bars and its rows' prices are their closes."""
    from screeners.models import ScreenRow, ScreenRun

    not_forming = [
        s.slug for s, run, *_ in done if run.state != ScreenRun.State.DONE or not run.forming
    ]
    rows = ScreenRow.objects.filter(run__in=[r for _, r, *_ in done]).select_related("instrument")
    wrong = sum(r.price != forming[r.instrument.key].c for r in rows)
    verdict = "ok" if not not_forming and not wrong and rows else "NOT ok"
    return (
        f"{verdict}: runs not on the forming bar {not_forming or 'none'}; "
        f"{len(rows):,} rows, {wrong} with a price other than the forming close"
    )


def _parts(ms: dict[str, float]) -> dict[str, float]:
    """The split the brief asks for: reading candles (the cache read and laying the forming
    bars on the closed arrays), the closed bars, evaluating, storing rows, the rest."""
    load = ms.get("load", 0.0)
    return {
        "universe query": ms.get("universe", 0.0),
        "closed bars": ms.get("closed bars", 0.0),
        "candles": load - ms.get("closed bars", 0.0),
        "evaluate": ms.get("evaluate", 0.0),
        "store rows": ms.get("store rows", 0.0),
    }


def _report(title: str, done: list[tuple]) -> None:
    total = sum(ms for _, _, ms, _ in done)
    print(f"  {title}: {total:,.0f} ms for the ten")
    for screen, run, ms, parts in done:
        split = ", ".join(f"{k} {v:.0f}" for k, v in _parts(parts).items())
        print(f"    {screen.slug:16} {ms:6.0f} ms ({split}); {run.matched} matched")


def _cache_for_the_universe(keys: list[str], forming: dict, rng: np.random.Generator) -> None:
    """Embedded mode's cache is a LocMemCache, which culls past MAX_ENTRIES keys (300 by
    default): say how many CANDLE records it kept, and go on with one that keeps them all."""
    from django.test.utils import override_settings

    from history import live

    kept = len(live.read_records(keys))
    if kept < len(keys):
        print(
            f"  NOTE: the embedded cache (LocMemCache, MAX_ENTRIES 300) kept {kept:,} of the "
            f"{len(keys):,} CANDLE records: measured with MAX_ENTRIES={CACHE_ENTRIES_FOR_RUN:,}"
        )
        options = {"MAX_ENTRIES": CACHE_ENTRIES_FOR_RUN}
        override_settings(CACHES={"default": {"BACKEND": LOCMEM, "OPTIONS": options}}).enable()
        _move(forming, rng)


def _measure(name: str) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    logging.getLogger("screeners").setLevel(logging.WARNING)  # a line per run otherwise
    from django.core.management import call_command

    from screeners.barcache import ClosedBars
    from screeners.compute import compile_screen
    from screeners.tasks import bars_read

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    forming, screens, rng = _fill(), _screens(), np.random.default_rng(SEED)
    screens.sort(key=bars_read, reverse=True)  # as the beat's run_due orders them
    _move(forming, rng)
    print(
        f"screen runs on {name}: {len(forming):,} NSE EQ stocks x 300 daily bars, "
        f"{len(screens)} screens every 5 minutes (set up in {time.perf_counter() - started:.0f} s)"
    )
    _cache_for_the_universe(list(forming), forming, rng)
    # The worker's clock, a beat minute on between rounds (its forming overlay is kept
    # FORMING_REUSE_SECONDS: each round reads the moved candles once).
    beat = {"now": time.time()}
    ms, kept, warm = {}, ClosedBars(clock=lambda: beat["now"]), []
    with _timing(ms):
        cold = _run_all(screens, kept, ms)
        _report("cold run (an empty ClosedBars: closed bars read from the store)", cold)
        print(f"    check: {_check(cold, forming)}")
        lengths = sorted(
            {compile_screen(**{f: getattr(s, f) for f in TEXT_FIELDS}).bars for s in screens}
        )
        mb = len(forming) * (5 * lengths[-1] + 1) * 8 / 1e6  # float64 arrays
        print(
            f"    closed bars read once at the widest of {len(lengths)} lengths {lengths}"
            f" (the others slices of it): {mb:,.0f} MB kept"
        )
        for _ in range(WARM_RUNS):
            beat["now"] += 60
            write_ms = _move(forming, rng)
            done = _run_all(screens, kept, ms)
            warm.append((write_ms, done, _check(done, forming)))
    _report_warm(warm)


def _report_warm(warm: list[tuple]) -> None:
    totals = [sum(ms for _, _, ms, _ in done) for _, done, _ in warm]
    median = statistics.median(totals)
    met = "met" if median <= TARGET_MS else "NOT met"
    print(
        f"  warm re-run, every forming bar moved before each (candle writes "
        f"{statistics.median(w for w, *_ in warm):.0f} ms): "
        f"{', '.join(f'{t:,.0f}' for t in totals)} ms; median {median:,.0f} ms "
        f"(target <= {TARGET_MS:,.0f} ms: {met})"
    )
    _, done, _ = warm[totals.index(median)]
    raw = sum((Counter(ms) for *_, ms in done), Counter())
    parts = _parts(raw)
    print(
        f"    split: reading candles {parts['candles']:.0f} ms (the cache read "
        f"{raw.get('read candles', 0):.0f}, laying them on the closed bars "
        f"{raw.get('lay forming', 0):.0f}), evaluating {parts['evaluate']:.0f}, "
        f"storing rows {parts['store rows']:.0f}; the universe query "
        f"{parts['universe query']:.0f}, the kept closed bars {parts['closed bars']:.0f}, "
        f"the rest {median - sum(parts.values()):.0f}"
    )
    _report("the median re-run by screen", done)
    for index, (*_, check) in enumerate(warm, start=1):
        print(f"    check of re-run {index}: {check}")


if __name__ == "__main__":
    if "--measure" in sys.argv:
        _measure(sys.argv[-1])
    else:
        main()
