"""The fan-out measured by an independent client (Node's `ws`, `bench/node/ws_clients.mjs`):
one daphne process as the Procfile runs it (full stack: redis-server, the pub/sub layer),
20-key pages over 64 instruments, a window a second, for 1,000, 2,500 and 5,000 clients.
Prints, per row: p50 and p99 delay (arrival - the window's send time, after a 5 s pause
following the connects), daphne's CPU and CPU per delivered update, memory per connection,
the time to open every connection, and the fewest updates any client got (starvation),
with the targets of the 5,000-browser issue beside them.

`BENCH_PROFILE=DIR`: py-spy samples daphne while the clients connect and while they are
measured, into `DIR/connect-N.txt` and `DIR/measure-N.txt` (collapsed stacks; summarised
by `bench/profile_summary.py`)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.bench_broadcast import daphne_env
from bench.bench_distribution import free_port, redis_server
from prices.cache import LIVE_UPDATES_CHANNEL

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "bench" / "node"
SIZES = [int(n) for n in os.environ.get("BENCH_CLIENTS", "1000,2500,5000").split(",")]
INSTRUMENTS = [f"NSE_EQ:{i}" for i in range(1, 65)]
PAGES, PAGE_KEYS = 20, 20
WARMUP_SECONDS, MEASURE_SECONDS = 5, 20
TARGETS = (
    "targets: p99 <= 100 ms, <= 20 us CPU per update, <= 20 KiB per connection, >= 1,000 connects/s"
)


async def _publish(url: str, stop: asyncio.Event) -> None:
    """The feeds: 10 flushes a second, every instrument changing."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    rng = random.Random(3)
    while not stop.is_set():
        prices = {k: rng.randint(2000, 60000) * 0.05 for k in INSTRUMENTS}
        batch = {"type": "ltp_batch", "ts": time.time(), "prices": prices}
        await client.publish(LIVE_UPDATES_CHANNEL, json.dumps(batch))
        await asyncio.sleep(0.1)
    await client.aclose()


def _daphne(env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "--ping-interval", "10", "--ping-timeout", "20", "marketstream.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    return proc, port


def _py_spy(pid: int, name: str, *, seconds: int | None = None) -> subprocess.Popen | None:
    """py-spy sampling `pid` into BENCH_PROFILE/name.txt (until stopped, or `seconds`)."""
    folder = os.environ.get("BENCH_PROFILE")
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    args = [str(Path(sys.executable).parent / "py-spy"), "record", "-r", "200"]
    args += ["-f", "raw", "-o", str(Path(folder) / f"{name}.txt"), "-p", str(pid)]
    # --native (C frames: the collector, the socket calls) pauses daphne for each sample.
    args.append("--native" if os.environ.get("BENCH_PROFILE_NATIVE") else "--nonblocking")
    if seconds is not None:
        args += ["-d", str(seconds)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop_py_spy(spy: subprocess.Popen | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
        spy.wait(30)


async def _row(clients: int, url: str, env: dict[str, str]) -> dict:
    proc, port = _daphne(env)
    web = psutil.Process(proc.pid)
    stop = asyncio.Event()
    publisher = asyncio.create_task(_publish(url, stop))
    try:
        rng = random.Random(4)
        pages = [rng.sample(INSTRUMENTS, PAGE_KEYS) for _ in range(PAGES)]
        rss_before = web.memory_info().rss
        node = await asyncio.create_subprocess_exec(
            "node", str(NODE_DIR / "ws_clients.mjs"), f"ws://127.0.0.1:{port}/ws/dashboard/",
            str(clients), json.dumps(pages), str(WARMUP_SECONDS), str(MEASURE_SECONDS),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert node.stdout is not None
        spy = _py_spy(proc.pid, f"connect-{clients}")
        line = (await node.stdout.readline()).decode().strip()
        assert line == "connected", line
        _stop_py_spy(spy)
        line = (await node.stdout.readline()).decode().strip()
        assert line == "measuring", line
        spy = _py_spy(proc.pid, f"measure-{clients}", seconds=MEASURE_SECONDS)
        cpu_before, started = sum(web.cpu_times()[:2]), time.monotonic()
        rss = web.memory_info().rss
        figures = json.loads((await node.stdout.readline()).decode())
        cpu = sum(web.cpu_times()[:2]) - cpu_before
        elapsed = time.monotonic() - started
        await node.wait()
        if spy is not None:
            spy.wait(30)
    finally:
        stop.set()
        await publisher
        proc.terminate()
        proc.wait(15)
    figures["cpu"] = cpu / elapsed
    figures["cpu_per_update_us"] = cpu / max(figures["deliveries"], 1) * 1e6
    figures["kib_per_connection"] = (rss - rss_before) / clients / 1024
    return figures


def main() -> None:
    if not (NODE_DIR / "node_modules" / "ws").exists():
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True
        )
    rows = []
    with redis_server() as (url, _), tempfile.TemporaryDirectory() as tmp:
        env = daphne_env(url, Path(tmp) / "bench.sqlite3")
        env["DJANGO_ALLOWED_HOSTS"] = "*"
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        for clients in SIZES:
            rows.append(asyncio.run(_row(clients, url, env)))
    print(
        f"clients (Node ws, one process) on one daphne process: {PAGES} pages of {PAGE_KEYS} "
        f"keys over {len(INSTRUMENTS)} instruments, 1 window/s, measured {MEASURE_SECONDS} s "
        f"after a {WARMUP_SECONDS} s pause; {TARGETS}"
    )
    print(
        "  | clients | p50 | p99 | daphne CPU | CPU per update | memory per connection "
        "| connect time | fewest updates |"
    )
    print("  |---|---|---|---|---|---|---|---|")
    for r in rows:
        rate = r["opened"] / r["connect_seconds"] if r["connect_seconds"] else 0
        print(
            f"  | {r['clients']:,} | {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms "
            f"| {r['cpu'] * 100:.1f} % | {r['cpu_per_update_us']:.0f} us "
            f"| {r['kib_per_connection']:.0f} KiB "
            f"| {r['connect_seconds']:.1f} s ({rate:.0f}/s, {r['failed']} failed) "
            f"| {r['min_per_client']} of {MEASURE_SECONDS} |"
        )


if __name__ == "__main__":
    main()
