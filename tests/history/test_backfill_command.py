"""`manage.py backfill_history` as an operator runs it: progress and a summary line, plain
errors with exit code 1 (no Data API add-on, bad arguments, no credentials), and a
backfill process killed mid-run (SIGKILL) that resumes with only what is missing."""

from __future__ import annotations

import io
import sys
from datetime import date

import pytest
from django.core.management import CommandError, call_command
from django.core.management.base import OutputWrapper
from django.db import connections

from history import store
from history.backfill import backfill
from history.management.commands.backfill_history import ProgressLine
from history.models import FetchedRange
from history.timeframes import day_start
from tests.support.historystub import (
    ACCESS_TOKEN,
    CLIENT_ID,
    HistoryStub,
    calls_of,
    daily_bars,
    make_instruments,
)
from tests.support.processes import ManagedProcess, manage_env, run_manage
from tests.support.waiting import wait_until

FIRST, LAST = date(2026, 1, 1), date(2026, 11, 27)
NOW = day_start(date(2026, 11, 30)) + 20 * 3600  # a Monday, 20:00 IST


def command_env(stub: HistoryStub) -> dict[str, str]:
    """A `manage.py` process on this test's SQLite database, talking to the stub."""
    database = connections["default"].settings_dict["NAME"]
    return manage_env(
        DATABASE_URL=f"sqlite:///{database}",
        DHANHQ_API_URL=stub.url,
        DHANHQ_CLIENT_ID=CLIENT_ID,
        DHANHQ_ACCESS_TOKEN=ACCESS_TOKEN,
    )


@pytest.mark.django_db
def test_the_command_shows_progress_and_a_summary_line(stub):
    keys = make_instruments("default", 2885, 1333, 11536)
    out = io.StringIO()

    call_command(
        "backfill_history",
        f"--keys={','.join(keys)}",
        "--tf=1d",
        "--from=2026-11-02",
        "--to=2026-11-27",
        stdout=out,
    )

    lines = out.getvalue().splitlines()
    assert lines[0] == "fetched 3 of 3 instruments"
    assert lines[-1].startswith("backfill 1d: 3 instruments, 3 calls, 60 bars written, ")
    assert "0 skipped (already fetched), 0 failed, 0 rate-limited (429)" in lines[-1]


def test_on_a_terminal_progress_is_one_line_redrawn_in_place():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = ProgressLine(OutputWrapper(screen))
    for done in (1, 2, 3):
        progress(done, 3)

    drawn = screen.getvalue()
    assert drawn.count("\r") >= 2 and drawn.endswith("\n") and "\n" not in drawn[:-1]
    assert "3/3" in drawn and "100%" in drawn


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["--keys=NSE_EQ:2885", "--tf=5m"], "--tf must be 1d or 1m"),
        (["--keys=NSE_EQ:2885", "--tf=1d", "--from=01/11/2026"], "--from must be a day"),
        (["--tf=1d"], "name the instruments"),
        (["--keys=NSE_EQ:2885", "--segment=NSE_EQ", "--tf=1d"], "name the instruments"),
        (["--keys=NSE_EQ:77", "--tf=1d"], "unknown instrument keys: NSE_EQ:77"),
        (["--segment=NSE_XX", "--tf=1d"], "unknown segment"),
        (["--keys=NSE_EQ:2885", "--tf=1d", "--from=2026-11-27", "--to=2026-11-02"], "nothing"),
    ],
)
def test_bad_arguments_are_a_plain_error(stub, arguments, error):
    make_instruments("default", 2885)

    with pytest.raises(CommandError, match=error):
        call_command("backfill_history", *arguments, stdout=io.StringIO())
    assert stub.chart_calls() == []


@pytest.mark.django_db
def test_no_credentials_is_a_plain_error(stub, settings):
    make_instruments("default", 2885)
    settings.DHANHQ_ACCESS_TOKEN = ""

    with pytest.raises(CommandError, match="DHANHQ_CLIENT_ID and DHANHQ_ACCESS_TOKEN"):
        call_command("backfill_history", "--keys=NSE_EQ:2885", "--tf=1d", stdout=io.StringIO())


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_an_account_without_the_data_api_gets_a_plain_error_not_a_traceback(stub):
    make_instruments("default", 2885)
    stub.no_data_api = True

    done = run_manage("backfill_history", "--keys=NSE_EQ:2885", "--tf=1d", env=command_env(stub))

    printed = done.stdout + done.stderr
    assert done.returncode == 1, printed
    assert "DH-902" in done.stderr and "no Data API subscription" in done.stderr
    assert "Traceback" not in printed and ACCESS_TOKEN not in printed
    assert "backfill 1d: 1 instruments, 1 calls, 0 bars written" in done.stdout


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_backfill_process_killed_mid_run_resumes_with_only_what_is_missing(stub, tmp_path):
    keys = make_instruments("default", *range(201, 213))
    command = [sys.executable, "manage.py", "backfill_history", "--keys", ",".join(keys)]
    command += ["--tf", "1d", "--from", FIRST.isoformat(), "--to", LAST.isoformat()]
    process = ManagedProcess(command, env=command_env(stub), log=tmp_path / "backfill.log")
    try:
        wait_until(lambda: len(stub.chart_calls()) >= 5, timeout=60, what="5 calls")
        process.proc.kill()  # SIGKILL: no clean-up of any kind
    finally:
        process.stop()
    done_before = set(FetchedRange.objects.values_list("key", flat=True))
    killed_after = len(stub.chart_calls())

    backfill(timeframe="1d", keys=keys, first=FIRST, last=LAST, now=NOW)

    assert 0 < len(done_before) < len(keys), process.output()
    missing = {(k, FIRST.isoformat(), "2026-11-28") for k in keys if k not in done_before}
    assert calls_of(stub, killed_after) == missing
    for key in keys:
        assert [tuple(b) for b in store.read(key, "1d")] == daily_bars(key, FIRST, LAST)
