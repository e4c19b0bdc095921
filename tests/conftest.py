"""Shared fixtures: free ports, the DhanHQ simulator in a thread, real subprocesses."""

from __future__ import annotations

import functools
import gzip
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# DhanHQ's compact scrip master, NSE and BSE equities and indices as of 2026-07 (23,116
# rows), gzipped: see tests/data/README.md.
FULL_SCRIP_MASTER_GZ = (
    ROOT / "tests" / "data" / "dhan-scrip-master-nse-bse-equity-index-2026-07.csv.gz"
)


@functools.cache
def full_scrip_master() -> Path:
    """The full scrip master as a CSV file (unpacked once per test process)."""
    path = Path(tempfile.mkdtemp(prefix="scrip-master-")) / FULL_SCRIP_MASTER_GZ.stem
    path.write_bytes(gzip.decompress(FULL_SCRIP_MASTER_GZ.read_bytes()))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(
    port: int, *, timeout: float = 20.0, process: ManagedProcess | None = None
) -> None:
    """Wait for a listener on `port`; fail at once, with its output, if `process` ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process is not None and process.proc.poll() is not None:
            raise RuntimeError(f"process ended before listening on {port}:\n{process.output()}")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def simulator_args(port: int, rest_port: int, *, rate: float) -> list[str]:
    """`manage.py dhan_simulator` on the given ports (both explicit: port + 1 may be taken)."""
    return [
        sys.executable,
        "manage.py",
        "dhan_simulator",
        "--port",
        str(port),
        "--rest-port",
        str(rest_port),
        "--rate",
        str(rate),
    ]


def wait_until(predicate, *, timeout: float = 15.0, what: str = "condition"):
    """Poll `predicate` until it returns something true; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def simulator():
    from dhan.simulator import DhanSimulator, SimulatorConfig

    sim = DhanSimulator(SimulatorConfig(port=0, rest_port=0, ticks_per_second=20, seed=1))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim_credentials():
    from dhan.simulator import DEMO_ACCESS_TOKEN, DEMO_CLIENT_ID

    return DEMO_CLIENT_ID, DEMO_ACCESS_TOKEN


class ManagedProcess:
    """A subprocess a test started; always stopped (TERM, then KILL) by its fixture."""

    def __init__(self, args: list[str], *, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._handle, stderr=subprocess.STDOUT
        )

    def stop(self, *, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._handle.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def manage_env(**extra: str) -> dict[str, str]:
    skip = ("DHANHQ_", "REDIS_URL", "DJANGO_DEBUG")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update(PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="marketstream.settings")
    env.update(DHANHQ_API_URL=NOWHERE_API_URL)  # tests never call DhanHQ itself
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"manage.py {args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def processes(tmp_path) -> Iterator[list[ManagedProcess]]:
    """Start processes with `processes.append(ManagedProcess(...))`; all stopped at the end."""
    started: list[ManagedProcess] = []
    yield started
    for proc in reversed(started):
        proc.stop()


class RedisServer:
    """A real redis-server on a free port, no persistence; stopped by its fixture."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._tmp = tmp
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port)

    def client(self):
        import redis

        return redis.Redis.from_url(self.url)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    redis_server.client().flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory):
    """A file for the test database: feed threads write while tests read, and SQLite's
    shared-cache memory database locks whole tables instead of waiting."""
    from django.conf import settings

    path = tmp_path_factory.mktemp("db") / "test.sqlite3"
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = str(path)


NOWHERE_API_URL = "http://127.0.0.1:9/v2"  # the discard port: refused at once


@pytest.fixture(autouse=True)
def _no_calls_to_dhanhq(settings):
    """Tests talk to the simulator or to nothing: never to DhanHQ's real REST API."""
    settings.DHANHQ_API_URL = NOWHERE_API_URL


@pytest.fixture(autouse=True)
def _clear_local_price_cache():
    """Embedded mode keeps prices in this process's cache: each test starts without any."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
async def live():
    """A web process's live-price services (broadcaster, fan-out), stopped at the end."""
    from prices.live import LivePrices

    services = LivePrices()
    yield services
    await services.stop()


@pytest.fixture
def dashboard_app(live):
    """`/ws/dashboard/`'s consumer with `live` in its scope, as the ASGI app has it."""
    from prices.consumers import PricesConsumer
    from prices.live import LivePricesMiddleware

    def app(consumer=PricesConsumer):
        return LivePricesMiddleware(consumer.as_asgi(), live)

    return app
