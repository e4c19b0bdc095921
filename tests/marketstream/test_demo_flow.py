"""The embedded demo as `make run` starts it: simulator and daphne as real processes."""

import json
import sys
import time
import urllib.request
from decimal import Decimal

from tests.conftest import (
    ManagedProcess,
    free_port,
    manage,
    manage_env,
    simulator_args,
    wait_for_port,
)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - 127.0.0.1 only
        return json.loads(response.read())


def test_embedded_demo_serves_prices_that_change_within_seconds(tmp_path, processes):
    sim_port, rest_port, web_port = free_port(), free_port(), free_port()
    env = manage_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        DEV_MODE="true",
        DHANHQ_FEED_URL=f"ws://127.0.0.1:{sim_port}",
        DHANHQ_API_URL=f"http://127.0.0.1:{rest_port}/v2",
        DHANHQ_CLIENT_ID="1000000001",
        DHANHQ_ACCESS_TOKEN="demo-token",
    )
    manage("migrate", "--noinput", env=env)
    manage("load_instruments", env=env)
    manage("load_screeners", env=env)
    sim = ManagedProcess(
        simulator_args(sim_port, rest_port, rate=5), env=env, log=tmp_path / "sim.log"
    )
    processes.append(sim)
    wait_for_port(sim_port, process=sim)

    def serve(log: str) -> ManagedProcess:
        web = ManagedProcess(
            [sys.executable, "manage.py", "run_web", "--port", str(web_port), "--demo-streams"],
            env=env,
            log=tmp_path / log,
        )
        processes.append(web)
        wait_for_port(web_port, process=web)
        return web

    def prices_seen() -> list[float]:
        """RELIANCE's price until it has changed, for at most 20 s."""
        url = f"http://127.0.0.1:{web_port}/api/v1/current_prices?keys=NSE_EQ:2885"
        seen: list[float] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(set(seen)) < 2:
            body = get_json(url)
            if body["prices"]:
                seen.append(body["prices"]["NSE_EQ:2885"])
            time.sleep(0.3)
        return seen

    web = serve("web.log")
    seen = prices_seen()
    assert len(set(seen)) >= 2, f"price did not change: {seen}\n{web.output()[-3000:]}"
    assert all(Decimal(repr(p)) % Decimal("0.1") == 0 for p in seen)  # RELIANCE: tick 0.10
    assert web.stop() == 0
    assert "stopped 3 streams" in web.output()  # swing, longterm, the index strip
    assert "demo-token" not in web.output()

    # A crash leaves the streams "running" in the database; the next start ends and
    # restarts them at once instead of waiting for their heartbeat to go stale (60 s).
    web = serve("web2.log")
    assert len(set(prices_seen())) >= 2
    web.proc.kill()
    web.proc.wait(10)
    web = serve("web3.log")
    seen = prices_seen()
    assert len(set(seen)) >= 2, f"no prices after a crash: {seen}\n{web.output()[-3000:]}"
    assert "3 streams left running by an earlier process" in web.output()
