"""The embedded demo as `make run` starts it: simulator and daphne as real processes."""

import json
import time
import urllib.request
from decimal import Decimal

import pytest

from tests.support.processes import free_port
from tests.support.stack import SimulatorAddress, Web

pytestmark = pytest.mark.e2e


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - 127.0.0.1 only
        return json.loads(response.read())


def test_embedded_demo_serves_prices_that_change_within_seconds(make_stack):
    stack = make_stack(sim=SimulatorAddress.free(), rest=True, database="demo.sqlite3")
    stack.prepare()
    stack.simulator_process(rate=5)
    web_port = free_port()  # each run_web in turn, as a restarted demo

    def serve(name: str) -> Web:
        return stack.run_web(name, port=web_port, demo_streams=True)

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

    web = serve("web")
    seen = prices_seen()
    assert len(set(seen)) >= 2, f"price did not change: {seen}\n{web.output()[-3000:]}"
    assert all(Decimal(repr(p)) % Decimal("0.1") == 0 for p in seen)  # RELIANCE: tick 0.10
    assert web.stop() == 0
    assert "stopped 3 streams" in web.output()  # swing, longterm, the index strip
    assert "demo-token" not in web.output()

    # A crash leaves the streams "running" in the database; the next start ends and
    # restarts them at once instead of waiting for their heartbeat to go stale (60 s).
    web = serve("web2")
    assert len(set(prices_seen())) >= 2
    web.proc.kill()
    web.proc.wait(10)
    web = serve("web3")
    seen = prices_seen()
    assert len(set(seen)) >= 2, f"no prices after a crash: {seen}\n{web.output()[-3000:]}"
    assert "3 streams left running by an earlier process" in web.output()
