"""`make run` as a test starts it (tests/marketstream/test_run_demo.py): on free ports with
a database of the test's, in a process group of its own, its output in a log; stopped the
way a process manager stops it (SIGTERM to the group), with SIGKILL for whatever is left
when a test fails."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.support.processes import ROOT, free_port, manage_env
from tests.support.waiting import wait_until

SERVING_TIMEOUT_SECONDS = 120.0  # a fresh venv installs first
STOP_TIMEOUT_SECONDS = 20.0


def ports() -> tuple[int, int]:
    """A web port, and a simulator port whose neighbour (its REST port) is free too."""
    while True:
        sim = free_port()
        if port_free(sim + 1):
            return free_port(), sim


def port_free(port: int) -> bool:
    """Nothing listens on it and a server could bind it (SO_REUSEADDR, as servers do: a
    closed connection's TIME_WAIT is not a bound port)."""
    listening = {
        c.laddr.port for c in psutil.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN
    }
    if port in listening:
        return False
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def session_processes(sid: int) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getsid(proc.pid) == sid:
                found.append(proc.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return found


def serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - 127.0.0.1
            return response.status == 200
    except OSError:
        return False


@dataclass
class Demo:
    """A running `make run`: its process (the group's leader), ports and log."""

    make: subprocess.Popen
    web: int
    sim: int
    log: Path

    def tail(self) -> str:
        return self.log.read_text()[-3000:]

    def wait_serving(self) -> None:
        url = f"http://127.0.0.1:{self.web}/api/v1/current_prices?keys=NSE_EQ:2885"
        wait_until(
            lambda: serving(url), timeout=SERVING_TIMEOUT_SECONDS, what=f"the demo\n{self.tail()}"
        )

    def terminate(self) -> None:
        """SIGTERM to the group, as a process manager sends it; waits for every process."""
        os.killpg(self.make.pid, signal.SIGTERM)
        wait_until(
            lambda: self.make.poll() is not None and not session_processes(self.make.pid),
            timeout=STOP_TIMEOUT_SECONDS,
            what=f"every process to exit\n{self.tail()}",
        )


@contextmanager
def make_run(tmp_path: Path) -> Iterator[Demo]:
    """`make run` on free ports with a SQLite file in `tmp_path`; killed at the end if a
    test left it running."""
    web, sim = ports()
    log = tmp_path / "make-run.log"
    env = manage_env(DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    with open(log, "wb") as out:
        make = subprocess.Popen(
            ["make", "run", f"WEB_PORT={web}", f"SIM_PORT={sim}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Demo(make, web, sim, log)
    finally:
        if session_processes(make.pid):
            os.killpg(make.pid, signal.SIGKILL)
        make.wait(10)
        time.sleep(0.1)
