"""manage.py run_demo: the demo's one owner process (what `make run` execs). It starts the
DhanHQ simulator and `run_web` as its children, in its own process group, forwards
SIGTERM, SIGINT and SIGHUP to them and waits for them, so nothing outlives it. Once the
simulator is up it backfills the demo's history from it and runs the shipped screens over
it (`DemoHistory`, a thread of its own, so the pages come up at once)."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from history.backfill import backfill
from history.backfillplan import BackfillError
from history.dataapi import DataApiNotConfigured
from history.timeframes import ist_day
from prices.calendar import is_trading_day
from prices.instruments import SAMPLE_SCRIP_MASTER, LoadReport, read_scrip_master
from prices.models import Instrument
from screeners.catalog import install_shipped
from screeners.runs import run_now
from screeners.shipped import SWING
from screeners.universe import instruments, parse_universe

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[3]
STOP_TIMEOUT_SECONDS = 15.0
START_TIMEOUT_SECONDS = 30.0
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
DEMO_MINUTE_DAYS = 3  # 1-minute bars of the last 3 trading days and today
DEMO_DAILY_DAYS = 730  # daily bars: two years, for the 52-week terms of the longterm screen
HISTORY_STOP_SECONDS = 5.0  # a stop waits this long for the backfill's current call


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
        history = DemoHistory()
        try:
            children.append(("simulator", _manage("dhan_simulator", "--port", str(sim_port))))
            _wait_for_port(sim_port, children[0][1], stopping=lambda: self._stopping)
            history.start()
            web = ["run_web", "--host", host, "--port", str(port), "--demo-streams"]
            children.insert(0, ("web server", _manage(*web)))
            died = self._watch(children)
        finally:
            history.stop()
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


class DemoHistory:
    """The demo's history from the simulator's Data API, within its limit, on a thread this
    object starts and stops (a re-run of the demo fetches only what is missing), then the
    shipped screens run over it: two years of daily bars of the sample instruments (the
    charts' and the first screen runs'), their 1-minute bars of the last DEMO_MINUTE_DAYS
    trading days and today, then the daily bars of every other stock of the screens'
    universe (about 9 minutes at DhanHQ's pace) and the screens again. Logs each step."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="demo-history", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Called as the demo stops: the backfill ends after its current call."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(HISTORY_STOP_SECONDS)

    def _run(self) -> None:
        """The thread: wait for the simulator's REST port, then each step in turn."""
        try:
            if not _api_listening(stopping=self._stopping):
                return
            today = ist_day(int(time.time()))
            sample = _sample_keys()
            universe = [k for k in _universe_keys() if k not in set(sample)]
            minutes_from = _trading_days_back(today, DEMO_MINUTE_DAYS)
            days_from = today - timedelta(days=DEMO_DAILY_DAYS)
            self._fetch("1d", sample, days_from)
            self._screens()
            self._fetch("1m", sample, minutes_from)
            self._fetch("1d", universe, days_from)
            self._screens()
        except (BackfillError, DataApiNotConfigured) as exc:
            logger.warning("demo history not fetched: %s", exc)
        except Exception:  # the thread's last word: the demo runs on without history
            logger.exception("demo history failed")
        finally:
            connections.close_all()

    def _fetch(self, timeframe: str, keys: list[str], first: date) -> None:
        if self._stopping.is_set() or not keys:
            return
        summary = backfill(
            timeframe=timeframe, keys=keys, first=first, should_stop=self._stopping.is_set
        )
        logger.info("demo history from the simulator: %s", summary.line())

    def _screens(self) -> None:
        """The shared screens over the bars so far (their pages' rows, their streams)."""
        if self._stopping.is_set():
            return
        for screen in install_shipped():
            run = run_now(screen)
            logger.info("demo screen %s: %d rows (%s)", screen.slug, run.matched, run.state)


def _sample_keys() -> list[str]:
    """The bundled sample scrip master's instruments: the demo's charts and first runs."""
    with open(SAMPLE_SCRIP_MASTER, newline="") as lines:
        keys = [i.key for i in read_scrip_master(lines, LoadReport())]
    ids = [int(k.split(":")[1]) for k in keys]
    known = {i.key for i in Instrument.objects.filter(security_id__in=ids)}
    return [k for k in keys if k in known]


def _universe_keys() -> list[str]:
    """The shipped screens' universe (NSE's EQ series)."""
    return [i.key for i in instruments(parse_universe(SWING["universe"]))]


def _trading_days_back(today: date, count: int) -> date:
    """The first of the last `count` trading days before `today`."""
    day = today
    for _ in range(count):
        day -= timedelta(days=1)
        while not is_trading_day(day):
            day -= timedelta(days=1)
    return day


def _api_listening(*, stopping: threading.Event) -> bool:
    """Wait for the Data API's port (the simulator's REST server) or the stop."""
    url = urlsplit(settings.DHANHQ_API_URL)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and not stopping.is_set():
        with socket.socket() as probe:
            if probe.connect_ex((url.hostname or "127.0.0.1", url.port or 443)) == 0:
                return True
        stopping.wait(0.1)
    return False


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
