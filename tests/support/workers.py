"""The stream-worker deployment (tests/streams/test_worker_streams.py and
test_worker_handover.py): Redis, the simulator in the test's process on a port of its own
(tests stop and restart it), and Celery workers driven by the manage.py commands; what the
tests read of it (the workers' threads, stream status, Redis locks)."""

from __future__ import annotations

import json

from celery import Celery

from dhan.simulator import DhanSimulator, SimulatorConfig
from tests.support.processes import ManagedProcess, free_port
from tests.support.stack import Stack
from tests.support.waiting import wait_until

TOKEN = "worker-test-token-value"
WORKER_CONCURRENCY = 4
CONTROL_TIMEOUT_SECONDS = 0.5


class WorkerStack(Stack):
    """Redis, the simulator (on a port of its own: restarted by tests) and Celery workers,
    each named for the simulator's port (unique across tests that run at once)."""

    def __init__(self, tmp_path, redis_url: str) -> None:
        self.sim_port = free_port()
        super().__init__(
            tmp_path,
            sim=self.start_simulator(token=TOKEN),
            redis_url=redis_url,
            database="worker.sqlite3",
            DHANHQ_ACCESS_TOKEN=TOKEN,
            DHANHQ_WATCHDOG_SILENCE_SECONDS="2",
            DHANHQ_RECONNECT_MAX_DELAY_SECONDS="0.5",
        )
        self.control = Celery(broker=redis_url)

    def deploy(self) -> None:
        self.prepare()
        self.start_worker("w")  # the stack's first worker: `workers[0]`
        wait_until(
            lambda: self.control.control.ping(timeout=CONTROL_TIMEOUT_SECONDS),
            timeout=30,
            what="worker ready",
        )

    def start_worker(self, name: str) -> ManagedProcess:
        """A worker logging at INFO, its node named for the simulator's port."""
        node = f"{name}{self.sim_port}"
        return self.worker(name, concurrency=WORKER_CONCURRENCY, node=node, log_level="INFO")

    def start_simulator(self, *, token: str) -> DhanSimulator:
        return DhanSimulator(
            SimulatorConfig(
                port=self.sim_port, rest_port=0, access_token=token, ticks_per_second=10, seed=3
            )
        ).start()

    def threads(self) -> list[str]:
        """The stream keys every worker's threads run, as the workers say."""
        replies = self.control.control.broadcast("stream_threads", reply=True, timeout=1)
        return [key for reply in replies for result in reply.values() for key in result["keys"]]

    def status(self) -> dict[str, dict]:
        """`stream_status --json`'s rows by key."""
        return {row["key"]: row for row in json.loads(self.manage("stream_status", "--json"))}

    def locks(self) -> list[bytes]:
        """The streams' key locks and connection slots in Redis."""
        return self.redis.keys("market_stream:lock:*") + self.redis.keys(
            "market_stream:connection:*"
        )

    def two_workers(self, key_args: tuple[str, ...]) -> tuple[str, ManagedProcess, ManagedProcess]:
        """A second worker, then a stream started: (its key, its worker, the other)."""
        spare = self.start_worker("spare")
        wait_until(
            lambda: len(self.control.control.ping(timeout=CONTROL_TIMEOUT_SECONDS)) == 2,
            what="two workers",
        )
        key = self.manage("start_stream", *key_args).strip()
        wait_until(lambda: self.status()[key]["state"] == "running", what="running")
        owner_pid = int(self.status()[key]["worker"].rsplit(":", 1)[1])
        owner, other = (self.workers[0], spare)
        if owner_pid != owner.proc.pid:
            owner, other = other, owner
        assert owner_pid == owner.proc.pid
        return key, owner, other
