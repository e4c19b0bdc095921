"""The WebSocket's limits through a real daphne process, as the Procfile runs it, and real
clients (`websockets`): a frame over daphne's 1 MiB ends with close code 1009, not a
dropped connection (`gateway.daphneoptions`), and so does a frame over our own
WS_MAX_MESSAGE_BYTES (a message of smaller frames over it gets an `error`); the Origin's
port and scheme count, over TLS too; the per-address cap answers 403, counting the proxy's forwarded
address; a body over the upload limit is 413 JSON under /api/."""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import websockets

from tests.support.certificates import self_signed
from tests.support.processes import free_port, wait_for_port
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e
CAP = 3


@dataclass(frozen=True)
class Daphne:
    port: int  # plain
    tls_port: int
    tls: ssl.SSLContext  # a client's, trusting the server's certificate


@pytest.fixture(scope="module")
def daphne(tmp_path_factory) -> Iterator[Daphne]:
    """One daphne for the module, plain and TLS: sockets per address capped at CAP, behind
    a 'proxy' that sends X-Forwarded-For (clients without it count by their own address)."""
    tmp = tmp_path_factory.mktemp("ws-limits")
    with Stack(
        tmp,
        DHANHQ_WS_ENABLED="false",
        WS_MAX_CONNECTIONS_PER_IP=str(CAP),
        RATELIMIT_IP_META_KEY="HTTP_X_FORWARDED_FOR",
    ) as stack:
        stack.prepare("migrate --noinput")
        tls_port = free_port()
        cert, key = self_signed("127.0.0.1", tmp)
        tls_endpoint = f"ssl:{tls_port}:privateKey={key}:certKey={cert}:interface=127.0.0.1"
        web = stack.daphne(endpoints=(tls_endpoint,))
        wait_for_port(tls_port, process=web)
        yield Daphne(web.port, tls_port, ssl.create_default_context(cafile=cert))


@pytest.fixture(scope="module")
def port(daphne) -> int:
    return daphne.port


def connect(port: int, **options):
    options.setdefault("compression", None)  # sizes on the wire are the sizes sent
    return websockets.connect(f"ws://127.0.0.1:{port}/ws/dashboard/", **options)


async def close_code_after(port: int, message) -> int | None:
    """The close code the server sent after `message` (None: the connection was dropped)."""
    async with connect(port) as ws:
        assert json.loads(await ws.recv())["type"] == "status"
        await ws.send(message)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), timeout=10)
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


async def test_a_2_mib_frame_is_closed_with_1009_not_dropped(port):
    assert await close_code_after(port, "x" * 2 * 1024 * 1024) == 1009


async def test_100_kib_in_one_frame_closes_with_1009_in_many_frames_gets_an_error(port):
    assert await close_code_after(port, "x" * 100 * 1024) == 1009  # over WS_MAX_MESSAGE_BYTES
    async with connect(port) as ws:
        await ws.recv()
        await ws.send(["x" * 4096] * 25)  # one message of 25 frames, none over the limit
        reply = json.loads(await ws.recv())
        assert reply["type"] == "error" and "frame over 64 KiB" in reply["error"]
        await ws.send("ping")
        assert json.loads(await ws.recv()) == {"type": "pong"}


async def test_deep_json_gets_an_error_and_the_socket_keeps_answering(port):
    async with connect(port) as ws:
        await ws.recv()
        await ws.send("[" * 1000 + "]" * 1000)
        reply = json.loads(await ws.recv())
        assert reply["type"] == "error" and "nested deeper than" in reply["error"]
        await ws.send("ping")
        assert json.loads(await ws.recv()) == {"type": "pong"}


async def refused_status(port: int, **options) -> int | None:
    """The HTTP status of a refused handshake, None when it was accepted."""
    try:
        async with connect(port, **options):
            return None
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


async def test_only_the_sites_own_scheme_host_and_port_may_open_a_socket(port):
    for origin in ("http://localhost:9999", "https://127.0.0.1", "http://127.0.0.1:9999"):
        assert await refused_status(port, origin=origin) == 403, origin
    assert await refused_status(port, origin=f"http://127.0.0.1:{port}") is None


async def test_over_tls_only_the_https_origin_may_open_a_socket(daphne):
    # daphne leaves `scheme` out of a WebSocket scope: without it a TLS page looked plain.
    url = f"wss://127.0.0.1:{daphne.tls_port}/ws/dashboard/"
    for origin, status in (("https", None), ("http", 403)):
        site = f"{origin}://127.0.0.1:{daphne.tls_port}"
        try:
            async with websockets.connect(url, origin=site, ssl=daphne.tls) as ws:
                assert json.loads(await ws.recv())["type"] == "status"
                answered = None
        except websockets.InvalidStatus as refused:
            answered = refused.response.status_code
        assert answered == status, site


async def test_an_address_gets_cap_sockets_and_another_when_one_closes(port):
    alice = {"additional_headers": {"X-Forwarded-For": "203.0.113.7"}}
    sockets = [await connect(port, **alice) for _ in range(CAP)]
    assert await refused_status(port, **alice) == 403
    bob = await connect(port, additional_headers={"X-Forwarded-For": "203.0.113.8"})
    assert json.loads(await bob.recv())["type"] == "status"  # another address: its own count
    await sockets.pop().close()
    async with asyncio.timeout(10):  # the slot is freed as daphne ends the instance
        while await refused_status(port, **alice) == 403:
            await asyncio.sleep(0.05)
    for ws in (*sockets, bob):
        await ws.close()


def test_a_body_over_the_upload_limit_is_413_json_under_api(port):
    # A form POST: the CSRF check reads it before any view, and Django's error view answers.
    body = b"csrfmiddlewaretoken=x&pad=" + b"x" * 3_000_000
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/ws_subscriptions",
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "csrftoken=" + "a" * 32,
        },
    )
    with pytest.raises(urllib.error.HTTPError) as answered:
        urllib.request.urlopen(request, timeout=30)  # noqa: S310 - 127.0.0.1
    assert answered.value.code == 413
    assert answered.value.headers["Content-Type"] == "application/json"
    assert json.loads(answered.value.read()) == {"error": "the body is larger than 2,621,440 bytes"}
