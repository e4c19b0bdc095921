"""Real redis-servers for tests: `RedisServer` (one, no persistence, on a free port: the
session's, from tests/conftest.py's `redis_server`, or a test's own to stop and pause) and
`SentinelCluster` (a master, a replica and three sentinels, for tests/ha)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import redis

from tests.support.processes import free_port, require_e2e, wait_for_port
from tests.support.waiting import wait_until

MASTER_NAME = "mymaster"
STOP_TIMEOUT_SECONDS = 10.0
REPLICATION_WAIT_SECONDS = 15.0


def server_args(port: int, tmp: Path, *args: str) -> list[str]:
    """redis-server on 127.0.0.1:`port`, nothing saved, its directory `tmp`."""
    return [
        "redis-server",
        *("--port", str(port), "--bind", "127.0.0.1", "--save", ""),
        *("--appendonly", "no", "--dir", str(tmp)),
        *args,
    ]


def start_server(args: list[str], port: int) -> subprocess.Popen:
    """Called by both classes below: a redis-server (or sentinel) listening on `port`."""
    require_e2e("redis-server")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for_port(port)
    return proc


class RedisServer:
    """A real redis-server on a free port, no persistence; stopped by its owner (restarted,
    paused with SIGSTOP, by some tests)."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._tmp = tmp
        self.start()

    def start(self) -> None:
        self.proc = start_server(server_args(self.port, self._tmp), self.port)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(STOP_TIMEOUT_SECONDS)


class SentinelCluster:
    """A real Redis master, one replica and three sentinels (`redis-server --sentinel`) on
    free ports, for failover tests; stopped by whoever made it."""

    def __init__(self, tmp: Path) -> None:
        self._tmp = tmp
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen] = {}
        self._redis(self.master_port)
        self._redis(self.replica_port, "--replicaof", "127.0.0.1", str(self.master_port))
        for port in self.sentinel_ports:
            conf = tmp / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {tmp}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                f"sentinel failover-timeout {MASTER_NAME} 5000\n"
            )
            self.procs[port] = start_server(["redis-server", str(conf), "--sentinel"], port)
        self.wait_for_replication()

    @property
    def sentinels(self) -> str:
        """REDIS_SENTINELS for the processes under test."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def _redis(self, port: int, *args: str) -> None:
        self.procs[port] = start_server(server_args(port, self._tmp, *args), port)

    def wait_for_replication(self, timeout: float = REPLICATION_WAIT_SECONDS) -> None:
        replica = redis.Redis(port=self.replica_port)
        wait_until(
            lambda: replica.info("replication").get("master_link_status") == "up",
            timeout=timeout,
            what="the replica to sync",
            interval=0.2,
        )

    def master_address(self) -> tuple[str, int]:
        sentinel = redis.Redis(port=self.sentinel_ports[0], decode_responses=True)
        host, port = sentinel.execute_command("SENTINEL", "get-master-addr-by-name", MASTER_NAME)
        return host, int(port)

    def kill_master(self) -> None:
        proc = self.procs[self.master_port]
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    proc.kill()
