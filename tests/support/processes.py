"""Processes a test starts, and what they run with: free ports, waiting for a listener,
the environment of a `manage.py` process, commands run to completion, and
`ManagedProcess` for servers a test stops. Used by tests/support/stack.py and redis.py,
and by tests that run a command of their own.

Starting a process (a server, or a `manage.py` command) is refused outside a test marked
`e2e`: tests/conftest.py says, before each test, whether it is one, so `make test-fast`
(`-m "not e2e"`) never starts one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOWHERE_API_URL = "http://127.0.0.1:9/v2"  # the discard port: refused at once
PORT_WAIT_SECONDS = 20.0
COMMAND_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 15.0


class _Marker:
    """Whether the running test is marked e2e (set by tests/conftest.py before its setup)."""

    e2e = False


def mark_running_test(*, e2e: bool) -> None:
    """Called by tests/conftest.py before each test's setup (its fixtures' included)."""
    _Marker.e2e = e2e


def require_e2e(what: str) -> None:
    """Called by everything that starts a server process, before it does."""
    if not _Marker.e2e:
        raise RuntimeError(
            f"{what}: a test that starts processes is marked @pytest.mark.e2e "
            "(`make test-fast` leaves those out)"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(
    port: int, *, timeout: float = PORT_WAIT_SECONDS, process: ManagedProcess | None = None
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


def manage_env(**extra: str) -> dict[str, str]:
    """This process's environment without our settings (DhanHQ's, Redis, DEBUG), for a
    `manage.py` process; DhanHQ's REST API pointed nowhere unless `extra` says otherwise."""
    skip = ("DHANHQ_", "REDIS_URL", "DJANGO_DEBUG")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update(PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="marketstream.settings")
    env.update(DHANHQ_API_URL=NOWHERE_API_URL)  # tests never call DhanHQ itself
    env.update(extra)
    return env


def run_manage(
    *args: str,
    env: dict[str, str],
    timeout: float = COMMAND_TIMEOUT_SECONDS,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`manage.py <args>` run to completion, whatever its exit code; what it printed on
    both streams kept. `stdin`: what to type in (a secret, never argv)."""
    require_e2e(f"manage.py {args[0]}")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def manage(
    *args: str,
    env: dict[str, str],
    timeout: float = COMMAND_TIMEOUT_SECONDS,
    stdin: str | None = None,
) -> str:
    """`manage.py <args>`, which must succeed (the test fails with what it printed);
    its standard output."""
    done = run_manage(*args, env=env, timeout=timeout, stdin=stdin)
    assert done.returncode == 0, f"manage.py {args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


class ManagedProcess:
    """A server a test started, its output in `log`; stopped (TERM, then KILL) by whoever
    started it (a `Stack`, or the test)."""

    def __init__(self, args: list[str], *, env: dict[str, str], log: Path) -> None:
        require_e2e(" ".join(args[1:3]))
        self.log = log
        self._handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._handle, stderr=subprocess.STDOUT
        )

    def stop(self, *, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """TERM, then KILL after `timeout` seconds; its exit code."""
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
