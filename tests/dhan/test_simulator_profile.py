"""The simulator's `GET /v2/profile` answers as DhanHQ does (the account of the token, in
DhanHQ's shape; 401 `DH-901` for any other token), and `DhanRest.check_token`, which
MarketStream calls before it stores a broker token, judges every kind of answer: good,
refused, another client's token, no answer, and a rate gate that stays shut."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dhanhq import DhanContext, dhanhq

from dhan.rest import DhanBusy, DhanRest, DhanUnreachable, TokenRefused
from dhan.simulator import DEMO_ACCESS_TOKEN, DEMO_CLIENT_ID, DhanSimulator, SimulatorConfig
from tests.support.processes import NOWHERE_API_URL

OTHER_CLIENT, OTHER_TOKEN = "1100000002", "other-token-Qm81.Zx-0123456789"
PROFILE_FIELDS = {
    "dhanClientId",
    "tokenValidity",
    "activeSegment",
    "ddpi",
    "mtf",
    "dataPlan",
    "dataValidity",
}


@pytest.fixture
def sim():
    accounts = {DEMO_CLIENT_ID: DEMO_ACCESS_TOKEN, OTHER_CLIENT: OTHER_TOKEN}
    simulator = DhanSimulator(SimulatorConfig(port=0, rest_port=0, accounts=accounts)).start()
    yield simulator
    simulator.stop()


def get_profile(sim: DhanSimulator, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{sim.rest_port}/v2/profile", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - local
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class OpenGate:
    def __init__(self) -> None:
        self.held_for: list[float] = []

    def try_acquire(self) -> bool:
        return True

    def hold_off(self, seconds: float) -> None:
        self.held_for.append(seconds)


class ShutGate(OpenGate):
    def try_acquire(self) -> bool:
        return False


def rest(base_url: str, client_id: str, token: str, *, gate=None, **kwargs) -> DhanRest:
    return DhanRest(
        base_url=base_url,
        client_id=client_id,
        access_token=token,
        gate=gate or OpenGate(),
        **kwargs,
    )


def sim_url(sim: DhanSimulator) -> str:
    return f"http://127.0.0.1:{sim.rest_port}/v2"


def test_profile_answers_the_tokens_account_in_dhanhqs_shape(sim):
    status, body = get_profile(sim, {"access-token": DEMO_ACCESS_TOKEN})
    assert status == 200 and set(body) == PROFILE_FIELDS
    assert body["dhanClientId"] == DEMO_CLIENT_ID
    # DhanHQ knows the account by the token alone: another account's token is that one's.
    status, body = get_profile(sim, {"access-token": OTHER_TOKEN, "client-id": DEMO_CLIENT_ID})
    assert status == 200 and body["dhanClientId"] == OTHER_CLIENT


@pytest.mark.parametrize("token", ["guessed-token", "", DEMO_ACCESS_TOKEN + "x"])
def test_profile_refuses_any_other_token_with_401_dh_901(sim, token):
    status, body = get_profile(sim, {"access-token": token, "client-id": DEMO_CLIENT_ID})
    assert status == 401
    assert body["errorCode"] == "DH-901" and body["errorType"] == "Invalid_Authentication"
    assert set(body) == {"errorType", "errorCode", "errorMessage"}


def test_profile_refuses_an_expired_token(sim):
    sim.expire_token(OTHER_CLIENT)
    status, body = get_profile(sim, {"access-token": OTHER_TOKEN})
    assert status == 401 and body["errorCode"] == "DH-901"


def test_the_official_sdk_reads_the_profile(sim):
    context = DhanContext(DEMO_CLIENT_ID, DEMO_ACCESS_TOKEN)
    context.get_dhan_http().base_url = sim_url(sim)
    answer = dhanhq(context).dhan_http.get("/profile")
    assert answer["status"] == "success" and answer["data"]["dhanClientId"] == DEMO_CLIENT_ID


def test_check_token_returns_the_profile_of_a_good_token(sim):
    client = rest(sim_url(sim), DEMO_CLIENT_ID, DEMO_ACCESS_TOKEN)
    assert client.check_token()["dhanClientId"] == DEMO_CLIENT_ID
    assert sim.rest_calls == 1


def test_check_token_refuses_a_wrong_token_without_naming_it(sim):
    with pytest.raises(TokenRefused) as refused:
        rest(sim_url(sim), DEMO_CLIENT_ID, "guessed-token-123").check_token()
    assert "DH-901" in str(refused.value) and "guessed-token-123" not in str(refused.value)


def test_check_token_refuses_another_clients_good_token(sim):
    with pytest.raises(TokenRefused, match="another DhanHQ client id"):
        rest(sim_url(sim), DEMO_CLIENT_ID, OTHER_TOKEN).check_token()


def test_check_token_without_an_answer_is_unreachable_not_refused():
    with pytest.raises(DhanUnreachable) as unreachable:
        rest(NOWHERE_API_URL, DEMO_CLIENT_ID, "some-token-abc").check_token()
    assert "some-token-abc" not in str(unreachable.value)


def test_check_token_waits_for_a_shut_gate_then_gives_up_without_a_call(sim):
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    client = rest(
        sim_url(sim),
        DEMO_CLIENT_ID,
        DEMO_ACCESS_TOKEN,
        gate=ShutGate(),
        sleep=sleep,
        clock=lambda: now[0],
    )
    with pytest.raises(DhanBusy):
        client.check_token(wait_seconds=1.0)
    assert sim.rest_calls == 0
    assert 1.0 <= sum(slept) < 1.2  # it waited its full second, polling


class TooManyRequests(BaseHTTPRequestHandler):
    """A DhanHQ at its rate limit: every request answered 429 DH-904 with Retry-After."""

    def do_GET(self) -> None:
        body = json.dumps(
            {"errorType": "Rate_Limit", "errorCode": "DH-904", "errorMessage": "slow down"}
        ).encode()
        self.send_response(429)
        self.send_header("Retry-After", "7")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_check_token_rate_limited_by_dhanhq_is_busy_and_closes_the_gate():
    server = ThreadingHTTPServer(("127.0.0.1", 0), TooManyRequests)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gate = OpenGate()
        client = rest(f"http://127.0.0.1:{server.server_port}/v2", "1", "t-0123", gate=gate)
        with pytest.raises(DhanBusy):
            client.check_token()
        assert gate.held_for == [7.0]
    finally:
        server.shutdown()
        server.server_close()
