"""A real Redis master, one replica and three sentinels (`redis-server --sentinel`) on free
ports, for failover tests; stopped by whoever made it."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.conftest import free_port, wait_for_port

MASTER_NAME = "mymaster"


class SentinelCluster:
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
            self._start(port, ["redis-server", str(conf), "--sentinel"])
        self.wait_for_replication()

    @property
    def sentinels(self) -> str:
        """REDIS_SENTINELS for the processes under test."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def _redis(self, port: int, *args: str) -> None:
        base = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        self._start(port, [*base, "--appendonly", "no", "--dir", str(self._tmp), *args])

    def _start(self, port: int, args: list[str]) -> None:
        self.procs[port] = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        wait_for_port(port)

    def wait_for_replication(self, timeout: float = 15) -> None:
        replica = redis.Redis(port=self.replica_port)
        deadline = time.monotonic() + timeout
        while replica.info("replication").get("master_link_status") != "up":
            assert time.monotonic() < deadline, "the replica never synced"
            time.sleep(0.2)

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
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
