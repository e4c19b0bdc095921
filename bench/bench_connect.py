"""WebSocket connects per second to `/ws/dashboard/` on one daphne process (full stack:
redis-server and the pub/sub channel layer), as the Procfile runs it. 2,000 clients in two
client processes, 200 connects in flight each; a connect is done at the first `status`
message, a subscribe at its `snapshot`. `--root DIR` measures another checkout's code.

    .venv/bin/python bench/run.py connect
    .venv/bin/python bench/bench_connect.py --root /path/to/other/checkout
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import websockets

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 2000
CLIENT_PROCESSES = 2
IN_FLIGHT = 200
KEYS = [f"NSE_EQ:{i}" for i in range(1, 21)]
PASS_TIMEOUT_SECONDS = 120


async def _one(port: int, subscribe: bool, times: list[float], sockets: list) -> None:
    started = time.monotonic()
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/dashboard/", open_timeout=60, compression=None
    )
    sockets.append(ws)
    while json.loads(await ws.recv())["type"] != "status":
        pass
    if subscribe:
        await ws.send(json.dumps({"action": "subscribe", "keys": KEYS}))
        while json.loads(await ws.recv())["type"] != "snapshot":
            pass
    times.append(time.monotonic() - started)


async def _group(port: int, count: int, subscribe: bool, go, done, results) -> None:
    times: list[float] = []
    sockets: list = []
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def bounded() -> None:
        async with limit:
            await _one(port, subscribe, times, sockets)

    go.wait()
    started = time.monotonic()
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(bounded() for _ in range(count)), return_exceptions=True),
        PASS_TIMEOUT_SECONDS,
    )
    finished = time.monotonic()
    failures = sum(isinstance(r, BaseException) for r in outcomes)
    results.put((times, finished - started, failures))
    done.wait()  # hold every socket open until the other group is measured too
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def client_group(port, count, subscribe, go, done, results) -> None:
    """One process of clients (two of them share the work)."""
    asyncio.run(_group(port, count, subscribe, go, done, results))


def _pass(port: int, web: psutil.Process, *, subscribe: bool) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    go, done, results = ctx.Event(), ctx.Event(), ctx.Queue()
    count = CLIENTS // CLIENT_PROCESSES
    groups = [
        ctx.Process(target=client_group, args=(port, count, subscribe, go, done, results))
        for _ in range(CLIENT_PROCESSES)
    ]
    for group in groups:
        group.start()
    time.sleep(2)  # the client processes import and wait at `go`
    cpu_before = sum(web.cpu_times()[:2])
    go.set()
    outcomes = [results.get(True, PASS_TIMEOUT_SECONDS + 30) for _ in groups]
    cpu = sum(web.cpu_times()[:2]) - cpu_before
    done.set()
    for group in groups:
        group.join(30)
    times = sorted(t for o in outcomes for t in o[0])
    wall = max(o[1] for o in outcomes)
    return {
        "connected": len(times),
        "failures": sum(o[2] for o in outcomes),
        "per_second": len(times) / wall,
        "wall_s": wall,
        "p50_ms": statistics.median(times) * 1000,
        "p99_ms": times[int(len(times) * 0.99)] * 1000,
        "cpu_s": cpu,
    }


def _daphne(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
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
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("daphne did not start")


def measure(root: Path) -> dict[str, dict[str, float]]:
    from bench.bench_broadcast import daphne_env
    from bench.bench_distribution import redis_server

    figures = {}
    with redis_server() as (url, _), tempfile.TemporaryDirectory() as tmp:
        env = daphne_env(url, Path(tmp) / "bench.sqlite3")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=root, env=env, check=True
        )
        proc, port = _daphne(root, env)
        try:
            web = psutil.Process(proc.pid)
            figures["connect"] = _pass(port, web, subscribe=False)
            time.sleep(3)  # let daphne close the first pass's sockets
            figures["connect + subscribe"] = _pass(port, web, subscribe=True)
        finally:
            proc.terminate()
            proc.wait(15)
    return figures


def main(root: Path = ROOT) -> None:
    figures = measure(root)
    print(f"connect: {CLIENTS} WebSocket clients to one daphne process ({root.name})")
    for name, f in figures.items():
        print(
            f"  {name}: {f['per_second']:.0f}/s ({f['connected']} in {f['wall_s']:.1f} s, "
            f"{f['failures']} failed); p50 {f['p50_ms']:.0f} ms, p99 {f['p99_ms']:.0f} ms; "
            f"daphne CPU {f['cpu_s']:.1f} s ({f['cpu_s'] / f['connected'] * 1e6:.0f} µs each)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    sys.path.insert(0, str(ROOT))
    main(parser.parse_args().root.resolve())
