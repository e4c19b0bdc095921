"""Alert evaluation: 100,000 active alerts over 5,000 instruments, 1,000-tick batches.
Prints the time per batch of the index (`alerts.index`, per-instrument sorted levels)
against a loop over every alert, in one run, and checks both fire the same alerts."""

from __future__ import annotations

import random
import statistics
import time

from alerts.index import AlertIndex, Rule

ALERTS = 100_000
INSTRUMENTS = 5_000
BATCH = 1_000
BATCHES = 40
TARGET_MS = 5.0
CONDITIONS = ["crosses_up", "crosses_down", "crosses", "above", "below"]


def naive(rules: list[Rule], last_seen: dict[str, float], prices: dict[str, float]) -> list[int]:
    out = []
    for r in rules:
        new = prices.get(r.key)
        last = last_seen.get(r.key)
        if new is None or last is None:
            continue
        c, level = r.condition, r.level
        if (
            (c in ("crosses_up", "crosses") and last < level <= new)
            or (c in ("crosses_down", "crosses") and last > level >= new)
            or (c == "above" and last <= level < new)
            or (c == "below" and last >= level > new)
        ):
            out.append(r.alert_id)
    return out


def scenario(seed: int = 7):
    rng = random.Random(seed)
    keys = [f"NSE_EQ:{i}" for i in range(1, INSTRUMENTS + 1)]
    base = {k: rng.randint(2_000, 60_000) * 0.05 for k in keys}
    rules = []
    for alert_id in range(ALERTS):
        key = rng.choice(keys)
        level = round(base[key] * rng.uniform(0.95, 1.05) / 0.05) * 0.05
        rules.append(Rule(alert_id, key, rng.choice(CONDITIONS), level))
    batches = []
    prices = dict(base)
    for _ in range(BATCHES):
        batch = {}
        for key in rng.sample(keys, BATCH):
            prices[key] = max(0.05, prices[key] + rng.choice((-1, 1)) * rng.randint(1, 40) * 0.05)
            batch[key] = prices[key]
        batches.append(batch)
    return base, rules, batches


def _timed(evaluate, base: dict[str, float], batches: list[dict]) -> tuple[list[float], int]:
    last_seen = dict(base)
    times, fired = [], 0
    for batch in batches:
        started = time.perf_counter()
        fired += len(evaluate(last_seen, batch))
        times.append(time.perf_counter() - started)
        last_seen.update(batch)
    return times, fired


def main() -> None:
    base, rules, batches = scenario()
    index = AlertIndex()
    started = time.perf_counter()
    for rule in rules:
        index.add(rule)
    build_s = time.perf_counter() - started
    ours, fired_ours = _timed(index.evaluate, base, batches)
    loop, fired_loop = _timed(lambda seen, batch: naive(rules, seen, batch), base, batches)
    assert fired_ours == fired_loop, (fired_ours, fired_loop)  # the same alerts fire
    p50, p99 = statistics.median(ours) * 1000, max(ours) * 1000
    naive_p50 = statistics.median(loop) * 1000
    print(
        f"alerts: {ALERTS:,} active alerts over {INSTRUMENTS:,} instruments, "
        f"{BATCHES} batches of {BATCH:,} ticks ({fired_ours:,} firings, the same both ways)"
    )
    print(f"  index built in {build_s * 1000:.0f} ms")
    print(
        f"  per batch: index p50 {p50:.2f} ms, worst {p99:.2f} ms "
        f"(target <= {TARGET_MS:.0f} ms: {'met' if p99 <= TARGET_MS else 'NOT met'}); "
        f"loop over every alert p50 {naive_p50:.1f} ms ({naive_p50 / p50:.0f}x slower)"
    )


if __name__ == "__main__":
    main()
