"""manage.py run_demo: the demo's one owner process (what `make run` execs). It starts the
DhanHQ simulator and `run_web` as its children, in its own process group, forwards
SIGTERM, SIGINT and SIGHUP to them and waits for them, so nothing outlives it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

ROOT = Path(__file__).resolve().parents[3]
STOP_TIMEOUT_SECONDS = 15.0
START_TIMEOUT_SECONDS = 30.0
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Command(BaseCommand):
    help = "Run the demo: the DhanHQ simulator and the web server, stopped together."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000, help="web port")
        parser.add_argument("--sim-port", type=int, default=8765, help="simulator port")

    def handle(self, *args, host: str, port: int, sim_port: int, **options):
        self._stopping = False
        for signum in FORWARDED:
            signal.signal(signum, self._on_signal)
        children: list[tuple[str, subprocess.Popen]] = []
        try:
            children.append(("simulator", _manage("dhan_simulator", "--port", str(sim_port))))
            _wait_for_port(sim_port, children[0][1], stopping=lambda: self._stopping)
            web = ["run_web", "--host", host, "--port", str(port), "--demo-streams"]
            children.insert(0, ("web server", _manage(*web)))
            died = self._watch(children)
        finally:
            _stop(children)
        if died:
            raise CommandError(f"the {died} exited on its own; the demo stopped")

    def _on_signal(self, signum: int, frame: object) -> None:
        """A signal to this process (or its group): stop the children, then exit."""
        self._stopping = True

    def _watch(self, children: list[tuple[str, subprocess.Popen]]) -> str | None:
        """Until a signal arrives (None) or a child exits on its own (its name)."""
        while not self._stopping:
            for name, child in children:
                if child.poll() is not None:
                    return name
            time.sleep(0.2)
        return None


def _manage(*args: str) -> subprocess.Popen:
    """A child in this process group, sharing its output."""
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT)


def _wait_for_port(port: int, child: subprocess.Popen, *, stopping: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and child.poll() is None and not stopping():
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    if not stopping():
        raise CommandError(f"the simulator did not listen on port {port}")


def _stop(children: list[tuple[str, subprocess.Popen]]) -> None:
    """SIGTERM to each child (web first), then wait; SIGKILL what is left at the deadline."""
    for _, child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for _, child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
