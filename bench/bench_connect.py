"""WebSocket connects per second to `/ws/dashboard/` on one daphne process run as the Procfile
runs it (real redis-server): 2,000 clients from 2 processes, done at the first `status`; then
fresh ones that also subscribe 20 keys, done at `ack` + `snapshot`. `--root DIR`: other code."""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import psutil
import websockets

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 2000
CLIENT_PROCESSES = 2
IN_FLIGHT = 200  # connects in flight per client process
KEYS = [f"NSE_EQ:{i}" for i in range(1, 21)]
SUBSCRIBE = json.dumps({"action": "subscribe", "keys": KEYS})
PASS_TIMEOUT_SECONDS = 120


# --- the client processes (they import only this module) -------------------------------


async def _one(port: int, subscribe: bool, sockets: list) -> tuple[float, float]:
    """One client: (start, done) on the system-wide monotonic clock."""
    started = time.monotonic()
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/dashboard/", open_timeout=60, compression=None
    )
    sockets.append(ws)
    while json.loads(await ws.recv())["type"] != "status":
        pass
    if subscribe:
        await ws.send(SUBSCRIBE)
        seen: set[str] = set()
        while "snapshot" not in seen:
            seen.add(json.loads(await ws.recv())["type"])
        if "ack" not in seen:
            raise RuntimeError("snapshot without ack")
    return started, time.monotonic()


async def _group(port: int, count: int, subscribe: bool, ready, go, done, results) -> None:
    sockets: list = []
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def bounded() -> tuple[float, float]:
        async with limit:
            return await _one(port, subscribe, sockets)

    ready.put(os.getpid())
    if not await asyncio.to_thread(go.wait, 60):
        return  # the benchmark gave up before the start
    tasks = [asyncio.create_task(bounded()) for _ in range(count)]
    _, pending = await asyncio.wait(tasks, timeout=PASS_TIMEOUT_SECONDS)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    spans, failures = [], Counter()
    for task in tasks:
        if task.cancelled():
            failures[f"not done in {PASS_TIMEOUT_SECONDS} s"] += 1
        elif task.exception() is not None:
            failures[type(task.exception()).__name__] += 1
        else:
            spans.append(task.result())
    results.put((spans, dict(failures)))
    # Every socket stays open until the other process is measured too.
    await asyncio.to_thread(done.wait, PASS_TIMEOUT_SECONDS + 60)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def client_group(port, count, subscribe, ready, go, done, results) -> None:
    """One process of clients (two of them share the work)."""
    asyncio.run(_group(port, count, subscribe, ready, go, done, results))


# --- the benchmark's own process ---------------------------------------------------------


def _get_all(q, groups: list, timeout: float) -> list:
    """One item per group from `q`; gives up at `timeout` or when a group died silently."""
    items, deadline = [], time.monotonic() + timeout
    while len(items) < len(groups):
        try:
            items.append(q.get(True, 1))
        except queue.Empty:
            if time.monotonic() > deadline or not all(g.is_alive() for g in groups):
                raise RuntimeError("a client process did not report") from None
    return items


def _cpu(web: psutil.Process) -> float:
    times = web.cpu_times()
    return times.user + times.system


def _pass(port: int, web: psutil.Process, *, subscribe: bool) -> dict:
    ctx = multiprocessing.get_context("spawn")
    ready, results, go, done = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Event()
    count = CLIENTS // CLIENT_PROCESSES
    args = (port, count, subscribe, ready, go, done, results)
    groups = [ctx.Process(target=client_group, args=args) for _ in range(CLIENT_PROCESSES)]
    try:
        for group in groups:
            group.start()
        _get_all(ready, groups, 60)
        cpu_before = _cpu(web)
        go.set()
        outcomes = _get_all(results, groups, PASS_TIMEOUT_SECONDS + 30)
        cpu = _cpu(web) - cpu_before
    finally:
        done.set()
        for group in groups:
            group.join(60)
            if group.is_alive():
                group.kill()
                group.join(10)
    return _figures(outcomes, cpu)


def _figures(outcomes: list, cpu: float) -> dict:
    spans = [span for spans, _ in outcomes for span in spans]
    failures = sum((Counter(f) for _, f in outcomes), Counter())
    times = sorted(done - start for start, done in spans)
    wall = max(d for _, d in spans) - min(s for s, _ in spans) if spans else float("nan")
    return {
        "done": len(times),
        "failures": dict(failures),
        "wall_s": wall,
        "per_second": len(times) / wall,
        "p50_ms": statistics.median(times) * 1000 if times else float("nan"),
        "p99_ms": times[int(len(times) * 0.99)] * 1000 if times else float("nan"),
        "cpu_s": cpu,
    }


def _on_port(web: psutil.Process, port: int) -> list:
    """daphne's sockets on `port`: the listening one and its clients' (not Redis's)."""
    return [c for c in web.net_connections("tcp") if c.laddr and c.laddr.port == port]


def _settle(web: psutil.Process, port: int, timeout: float = 60) -> float:
    """Until daphne holds no client connection and idles (under 5% of a core for 0.5 s):
    the last pass's disconnects are done. Returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(c.status == psutil.CONN_LISTEN for c in _on_port(web, port)):
            before = _cpu(web)
            time.sleep(0.5)
            if _cpu(web) - before < 0.025:
                break
        else:
            time.sleep(0.2)
    return time.monotonic() - started


@contextmanager
def _daphne(root: Path, env: dict[str, str]):
    """One daphne process as the Procfile starts it, on 127.0.0.1: (process, port)."""
    from bench.bench_distribution import free_port

    port = free_port()
    args = ["-b", "127.0.0.1", "-p", str(port), "--ping-interval", "10", "--ping-timeout", "20"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", *args, "marketstream.asgi:application"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        web = psutil.Process(proc.pid)
        deadline = time.monotonic() + 30
        while not any(c.status == psutil.CONN_LISTEN for c in _on_port(web, port)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daphne did not start in {root}")
            time.sleep(0.1)
        yield web, port
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def measure(root: Path) -> dict[str, dict]:
    from bench.bench_broadcast import daphne_env
    from bench.bench_distribution import redis_server

    figures = {}
    with redis_server() as (url, _), tempfile.TemporaryDirectory() as tmp:
        env = {**daphne_env(url, Path(tmp) / "bench.sqlite3"), "DJANGO_ALLOWED_HOSTS": "*"}
        migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
        subprocess.run(migrate, cwd=root, env=env, check=True, timeout=120)
        with _daphne(root, env) as (web, port):
            _settle(web, port)
            figures["connect"] = _pass(port, web, subscribe=False)
            settled = _settle(web, port)
            figures["connect + subscribe"] = _pass(port, web, subscribe=True)
            figures["connect + subscribe"]["settled_s"] = settled
    return figures


def main(root: Path = ROOT) -> None:
    figures = measure(root)
    print(
        f"connect: {CLIENTS} WebSocket clients to one daphne process ({root}), "
        f"{CLIENT_PROCESSES} client processes, {IN_FLIGHT} in flight each"
    )
    for name, f in figures.items():
        failed = ", ".join(f"{n} {kind}" for kind, n in f["failures"].items()) or "none"
        print(
            f"  {name}: {f['per_second']:.0f}/s ({f['done']} in {f['wall_s']:.2f} s); "
            f"p50 {f['p50_ms']:.0f} ms, p99 {f['p99_ms']:.0f} ms; daphne CPU "
            f"{f['cpu_s']:.2f} s ({f['cpu_s'] / max(f['done'], 1) * 1e6:,.0f} µs each); "
            f"failed: {failed}"
        )
        if "settled_s" in f:
            print(f"    (after the first pass closed, daphne idled within {f['settled_s']:.1f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout daphne runs")
    root = parser.parse_args().root.resolve()
    sys.path.insert(0, str(ROOT))  # this checkout's bench helpers, whatever --root is
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketstream.settings")
    import django

    django.setup()
    main(root)
