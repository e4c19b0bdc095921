"""The one stack builder of the end-to-end tests: a deployment's database, environment
and processes (Celery workers, daphne, `run_web`, the simulator as a process) written
once. A `Stack` is made with what it runs against (a redis-server's URL or none for the
embedded mode, a simulator in the test's process or on ports of its own), starts what
the test asks for, and stops all of it. Built by tests/conftest.py's `make_stack` and
`price_stack`, by tests/support/browser.py's `live_site`, and by test modules' fixtures
(subclasses that add what their tests ask of the deployment)."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import redis

from dhan.simulator import DEMO_ACCESS_TOKEN, DEMO_CLIENT_ID, DhanSimulator
from prices.instruments import SAMPLE_SCRIP_MASTER
from tests.support.processes import (
    COMMAND_TIMEOUT_SECONDS,
    ManagedProcess,
    free_port,
    manage,
    manage_env,
    wait_for_port,
)
from tests.support.screens import RECORD_COMMAND

ASGI_APPLICATION = "marketstream.asgi:application"
PREPARE_COMMANDS = ("migrate --noinput", f"load_instruments {SAMPLE_SCRIP_MASTER}", RECORD_COMMAND)
WORKER_CONCURRENCY = 6


@dataclass(frozen=True, slots=True)
class SimulatorAddress:
    """Where a simulator of its own process (`Stack.simulator_process`) listens."""

    port: int
    rest_port: int

    @classmethod
    def free(cls) -> SimulatorAddress:
        return cls(free_port(), free_port())


def worker_command(
    *, queues: str, concurrency: int, node: str | None, log_level: str | None
) -> list[str]:
    """A Celery worker of the project on `queues`, threads as the deployment runs it."""
    args = [sys.executable, "-m", "celery", "-A", "marketstream", "worker", "-Q", queues]
    args += ["-P", "threads", "-c", str(concurrency), "--without-mingle", "--without-gossip"]
    args += ["-l", log_level] if log_level else []
    return args + (["-n", f"{node}@%h"] if node else [])


def daphne_command(port: int, *, app: str, endpoints: tuple[str, ...]) -> list[str]:
    """daphne serving `app` on 127.0.0.1:`port` (and any more `endpoints`), as the
    Procfile runs it."""
    args = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    return [*args, *(arg for endpoint in endpoints for arg in ("-e", endpoint)), app]


def run_web_command(port: int, *, demo_streams: bool) -> list[str]:
    """`manage.py run_web`, as `make run` starts it."""
    args = [sys.executable, "manage.py", "run_web", "--port", str(port)]
    return args + (["--demo-streams"] if demo_streams else [])


def simulator_command(address: SimulatorAddress, *, rate: float) -> list[str]:
    """`manage.py dhan_simulator` on both ports (explicit: port + 1 may be taken)."""
    args = [sys.executable, "manage.py", "dhan_simulator", "--port", str(address.port)]
    return args + ["--rest-port", str(address.rest_port), "--rate", str(rate)]


def simulator_env(sim: DhanSimulator | SimulatorAddress, *, rest: bool) -> dict[str, str]:
    """The settings that point a process at the simulator with its demo credentials, in
    DEV_MODE (the market always open). DhanHQ's REST API only if `rest`: elsewhere it
    stays nowhere, so what a test reads from the price cache is never filled by REST."""
    feed = f"ws://127.0.0.1:{sim.port}"
    env = {
        "DEV_MODE": "true",
        "DHANHQ_FEED_URL": feed,
        "DHANHQ_DEPTH_FEED_URL": f"{feed}/twentydepth",
        "DHANHQ_ORDER_FEED_URL": f"{feed}/orderupdate",
        "DHANHQ_CLIENT_ID": DEMO_CLIENT_ID,
        "DHANHQ_ACCESS_TOKEN": DEMO_ACCESS_TOKEN,
    }
    return env | ({"DHANHQ_API_URL": f"http://127.0.0.1:{sim.rest_port}/v2"} if rest else {})


class Web(ManagedProcess):
    """A web process (daphne or `run_web`) and the port it serves."""

    def __init__(self, args: list[str], *, env: dict[str, str], log: Path, port: int) -> None:
        super().__init__(args, env=env, log=log)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


class Stack:
    """One deployment under test, in `tmp` (its database file, a log per process).

    `sim`: a simulator in the test's process (stopped with the stack) or the address of
    one `simulator_process` starts; `redis_url`: Redis (none: the embedded mode); `rest`:
    DhanHQ's REST API is the simulator's too; `database_url`: another database than the
    SQLite file (a PostgreSQL one, tests/support/postgres.py); `env`: more settings.
    Nothing starts until asked; `stop` (or leaving a `with`) ends everything, last started first."""

    def __init__(
        self,
        tmp: Path,
        *,
        sim: DhanSimulator | SimulatorAddress | None = None,
        redis_url: str | None = None,
        rest: bool = False,
        database: str = "stack.sqlite3",
        database_url: str | None = None,
        **env: str,
    ) -> None:
        self.tmp, self.sim, self.redis_url = tmp, sim, redis_url
        self.db = tmp / database
        settings = {"DATABASE_URL": database_url or f"sqlite:///{self.db}"}
        settings |= {"REDIS_URL": redis_url} if redis_url else {}
        settings |= simulator_env(sim, rest=rest) if sim is not None else {}
        self.env = manage_env(**settings | env)
        self.processes: list[ManagedProcess] = []
        self.workers: list[ManagedProcess] = []
        self.webs: list[Web] = []

    @property
    def ports(self) -> list[int]:
        """The web processes' ports, in the order they started."""
        return [web.port for web in self.webs]

    @functools.cached_property
    def redis(self) -> redis.Redis:
        """A client of the stack's Redis."""
        assert self.redis_url, "an embedded stack has no Redis"
        return redis.Redis.from_url(self.redis_url)

    def manage(
        self, *args: str, stdin: str | None = None, timeout: float = COMMAND_TIMEOUT_SECONDS
    ) -> str:
        """`manage.py <args>` in the stack's environment, run to completion."""
        return manage(*args, env=self.env, stdin=stdin, timeout=timeout)

    def prepare(self, *commands: str | tuple[str, ...]) -> None:
        """The database made and filled (each command's words split on spaces)."""
        for command in commands or PREPARE_COMMANDS:
            self.manage(*(command.split() if isinstance(command, str) else command))

    def create_user(self, name: str, password: str) -> None:
        """A user in the stack's database, as `manage.py shell` makes one."""
        script = f"User.objects.create_user({name!r}, password={password!r})"
        self.manage("shell", "-c", f"from django.contrib.auth.models import User; {script}")

    def process(self, name: str, args: list[str], **env: str) -> ManagedProcess:
        """Any process, its output in `<name>.log`, stopped with the stack."""
        proc = ManagedProcess(args, env=self.env | env, log=self.tmp / f"{name}.log")
        self.processes.append(proc)
        return proc

    def worker(
        self,
        name: str = "worker",
        *,
        queues: str = "streams,celery",
        concurrency: int = WORKER_CONCURRENCY,
        node: str | None = None,
        log_level: str | None = None,
        **env: str,
    ) -> ManagedProcess:
        """A Celery worker (`node`: its name, unique among the stack's workers)."""
        args = worker_command(
            queues=queues, concurrency=concurrency, node=node, log_level=log_level
        )
        self.workers.append(self.process(name, args, **env))
        return self.workers[-1]

    def daphne(
        self,
        name: str | None = None,
        *,
        app: str = ASGI_APPLICATION,
        endpoints: tuple[str, ...] = (),
    ) -> Web:
        """A daphne process (`web<i>` unless `name`) on a free port, serving `app` (and
        any more `endpoints`), listening when this returns."""
        port = free_port()
        args = daphne_command(port, app=app, endpoints=endpoints)
        web = self._web(name or f"web{len(self.webs)}", args, port)
        wait_for_port(port, process=web)
        return web

    def daphnes(self, count: int) -> list[Web]:
        """`count` daphne processes started at once, all listening when this returns."""
        webs = []
        for _ in range(count):
            port = free_port()
            args = daphne_command(port, app=ASGI_APPLICATION, endpoints=())
            webs.append(self._web(f"web{len(self.webs)}", args, port))
        for web in webs:
            wait_for_port(web.port, process=web)
        return webs

    def run_web(
        self, name: str = "web", *, port: int | None = None, demo_streams: bool = False
    ) -> Web:
        """`manage.py run_web` (on `port`, or a free one), listening when this returns."""
        port = port or free_port()
        web = self._web(name, run_web_command(port, demo_streams=demo_streams), port)
        wait_for_port(port, process=web)
        return web

    def simulator_process(self, *, rate: float) -> ManagedProcess:
        """`manage.py dhan_simulator` on the stack's simulator address, `rate` ticks a
        second per instrument, listening when this returns."""
        assert isinstance(self.sim, SimulatorAddress), "the stack's simulator is in-process"
        sim = self.process("sim", simulator_command(self.sim, rate=rate))
        wait_for_port(self.sim.port, process=sim)
        return sim

    def _web(self, name: str, args: list[str], port: int) -> Web:
        web = Web(args, env=self.env, log=self.tmp / f"{name}.log", port=port)
        self.processes.append(web)
        self.webs.append(web)
        return web

    def stop(self) -> None:
        """Every process, last started first, then the simulator if it runs in-process."""
        for proc in reversed(self.processes):
            proc.stop()
        if isinstance(self.sim, DhanSimulator):
            self.sim.stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
