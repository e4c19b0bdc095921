"""`make run`, the demo: it serves, backfills its history from the simulator as it starts
(within a minute the bars API has two years of daily bars and the last days' minutes, the
shipped screens have run over them, and the log has each backfill's summary with no 429),
and stopped the way a process manager, `timeout` or CI stops it (SIGTERM to its process
group) it leaves no process behind and frees every port it bound. One `make run` for all
of it: starting one is the slow part."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.support.demo import make_run, port_free
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

DATA_WITHIN_SECONDS = 60  # issue 21: "charts and screens have data within a minute"


def bar_count(web: int, tf: str) -> int:
    url = f"http://127.0.0.1:{web}/api/v1/bars?key=NSE_EQ:2885&tf={tf}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # 127.0.0.1 only
            return len(json.loads(response.read())["bars"])
    except OSError:
        return 0


def test_the_demo_backfills_its_history_and_sigterm_leaves_no_process_and_no_bound_port(
    tmp_path,
):
    with make_run(tmp_path) as demo:
        demo.wait_serving()
        wait_until(
            lambda: "demo history from the simulator: backfill 1m" in demo.log.read_text(),
            timeout=DATA_WITHIN_SECONDS,
            what=f"the demo's history\n{demo.tail()}",
        )
        assert bar_count(demo.web, "1d") >= 240  # a year of trading days
        assert bar_count(demo.web, "1m") >= 375  # at least a whole past session
        lines = demo.log.read_text().splitlines()
        summaries = [line for line in lines if "demo history" in line]
        assert len(summaries) == 2, summaries
        assert all("0 failed, 0 rate-limited (429)" in line for line in summaries), summaries
        # The shipped screens ran over the daily bars before the minutes were fetched.
        screens = [line.split("demo screen ")[1] for line in lines if "demo screen " in line]
        assert [s.split(":")[0] for s in screens] == ["swing", "longterm"], screens
        assert all(s.endswith("(done)") for s in screens), screens
        page = urllib.request.urlopen(f"http://127.0.0.1:{demo.web}/screeners/swing", timeout=5)
        assert page.read().decode().count('data-symbol="') == int(screens[0].split()[1])
        demo.terminate()  # what a process manager does
        for port in (demo.web, demo.sim, demo.sim + 1):
            assert port_free(port), f"port {port} still bound\n{demo.tail()}"
