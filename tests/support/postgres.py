"""A real PostgreSQL server for tests (Debian's `postgresql` package, which `make test`
installs when missing): `PostgresServer` runs `initdb` and `postgres` on a free port and a
temporary directory, as the `postgres` user when we are root (the server refuses to run
as root), fsync off. tests/conftest.py registers it as the `pg` database alias for the bar
store's tests (`pg_alias`), and stacks point their processes at a database of their own
on it (`database_url`)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.support.processes import free_port, wait_for_port
from tests.support.waiting import wait_until

STOP_TIMEOUT_SECONDS = 15.0
READY_TIMEOUT_SECONDS = 30.0
SUPERUSER = "postgres"
FAST_UNSAFE = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def _bin(name: str) -> str:
    """The newest installed PostgreSQL's `name` (Debian keeps them off PATH)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise RuntimeError(f"{name} not found: apt-get install postgresql (make system-deps)")
    return on_path


def _as_postgres() -> dict:
    """Popen's arguments that run a child as the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return {}
    return {"user": SUPERUSER, "group": pwd.getpwnam(SUPERUSER).pw_gid}


class PostgresServer:
    """One PostgreSQL cluster on 127.0.0.1:`port`, trust authentication for `postgres`;
    stopped (and its directory removed) by its owner."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="marketstream-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, SUPERUSER, SUPERUSER)
        data = self.dir / "data"
        subprocess.run(
            [_bin("initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust", "--no-sync"]
            + ["-E", "UTF8", "--locale=C"],
            check=True,
            capture_output=True,
            **_as_postgres(),
        )
        settings = [arg for item in FAST_UNSAFE for arg in ("-c", item)]
        self.proc = subprocess.Popen(
            [_bin("postgres"), "-D", str(data), "-p", str(self.port), "-h", "127.0.0.1"]
            + ["-k", str(self.dir), *settings],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            **_as_postgres(),
        )
        wait_for_port(self.port, timeout=READY_TIMEOUT_SECONDS)
        wait_until(self._accepts, timeout=READY_TIMEOUT_SECONDS, what="postgres accepting")

    def _accepts(self) -> bool:
        try:
            psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def dsn(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its DATABASE_URL."""
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def alias_settings(self, name: str) -> dict:
        """Django's DATABASES entry for database `name` (its test database `test_<name>`)."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": SUPERUSER,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
        }

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(STOP_TIMEOUT_SECONDS)
        shutil.rmtree(self.dir, ignore_errors=True)
