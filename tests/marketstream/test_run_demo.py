"""`make run` stopped the way a process manager, `timeout` or CI stops it (SIGTERM to its
process group) leaves no process behind and frees every port it bound."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request

import psutil
import pytest

from tests.support.processes import ROOT, free_port, manage_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


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


def test_sigterm_to_make_runs_process_group_leaves_no_process_and_no_bound_port(tmp_path):
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
        url = f"http://127.0.0.1:{web}/api/v1/current_prices?keys=NSE_EQ:2885"
        wait_until(lambda: serving(url), timeout=120, what=f"the demo\n{log.read_text()[-3000:]}")
        os.killpg(make.pid, signal.SIGTERM)  # what a process manager does
        wait_until(
            lambda: make.poll() is not None and not session_processes(make.pid),
            timeout=20,
            what=f"every process to exit\n{log.read_text()[-3000:]}",
        )
        for port in (web, sim, sim + 1):
            assert port_free(port), f"port {port} still bound\n{log.read_text()[-3000:]}"
    finally:
        if session_processes(make.pid):
            os.killpg(make.pid, signal.SIGKILL)
        make.wait(10)
        time.sleep(0.1)
