"""The JSON API's OpenAPI description, checked against the running API by schemathesis
(an independent fuzzer): a real web process streaming from the simulator, every operation
called with generated and example requests, as a user with an API token. No 500, no
response outside its schema, no status code the description does not list."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.stack import SimulatorAddress
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

CHECKS = (
    "not_a_server_error,response_schema_conformance,status_code_conformance,"
    "content_type_conformance"
)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - 127.0.0.1 only
        return json.loads(response.read())


def test_the_description_covers_the_contract_and_holds_under_schemathesis(make_stack, tmp_path):
    stack = make_stack(
        sim=SimulatorAddress.free(),
        rest=True,
        database="api.sqlite3",
        DHANHQ_WS_MODE="full",  # quotes and 5-level books to describe
        API_RATE_LIMIT_PER_IP="",  # the fuzzer is one client sending thousands of requests
        API_RATE_LIMIT_PER_USER="",
    )
    env = stack.env
    stack.prepare()
    stack.create_user("fuzz", "fuzz-password-1")
    token = stack.manage("create_api_token", "--user", "fuzz").strip().split()[-1]
    stack.simulator_process(rate=5)
    web = stack.run_web(demo_streams=True)
    base = f"{web.url}/api/v1"
    wait_until(lambda: get_json(f"{base}/quotes?keys=NSE_EQ:2885")["quotes"], what="quotes cached")

    paths = set(get_json(f"{base}/openapi.json")["paths"])
    contract = {
        "current_prices",
        "quotes",
        "depth",
        "health/market_stream",
        "orders",
        "alerts",
        "alerts/{alert_id}",
        "alerts/{alert_id}/events",
        "portfolio",
        "bars",
        "instruments",
        "screens",
        "screens/check",
        "screens/{screen_id}",
        "screens/{screen_id}/run",
        "screens/{screen_id}/results",
    }
    assert {f"/api/v1/{p}" for p in contract} <= paths

    started = time.monotonic()
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{base}/openapi.json",
            "--checks",
            CHECKS,
            "--header",
            f"Authorization: Token {token}",
            "--max-examples",
            "40",
            "--seed",
            "20261124",
            "--workers",
            "2",
            "--request-timeout",
            "10",
            "--suppress-health-check",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
        cwd=tmp_path,  # its reports directory
    )
    print(f"schemathesis: {time.monotonic() - started:.1f} s\n{done.stdout[-1500:]}")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout or "passed" in done.stdout
    assert "Traceback" not in web.output()
