"""The WebSocket's limits, in one process (channels' communicator on the whole ASGI app):
the handshake's Origin must be this site's scheme, host and port (`gateway.origins`);
at most WS_MAX_CONNECTIONS_PER_IP sockets per client address (`gateway.wscap`);
a message over WS_MAX_MESSAGE_BYTES or deep JSON gets an `error` (`prices.clientlimits`,
`prices.consumers`). Through a real daphne, where a frame that big closes with 1009:
test_ws_limits_e2e.py."""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator

from marketstream.asgi import build_application
from marketstream.runtime import WebRuntime

pytestmark = pytest.mark.django_db(transaction=True)

SITE_HOST = "127.0.0.1:8000"  # the page is http://127.0.0.1:8000/screeners/swing


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.REDIS_URL = ""
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "marketstream.example.com"]


@pytest.fixture
async def application():
    runtime = WebRuntime(hosts_connections=False)
    yield build_application(runtime)
    await runtime.live.stop()


def served(app, **scope):
    """`app` as a server would call it, with these scope keys (`client`, `scheme`) added:
    channels' communicator sets neither."""

    async def with_scope(outer, receive, send):
        return await app({**outer, **scope}, receive, send)

    return with_scope


async def opened(app, headers=(), **scope) -> WebsocketCommunicator | None:
    """An accepted socket (its status message read), or None when the handshake is refused."""
    ws = WebsocketCommunicator(served(app, **scope), "/ws/dashboard/", list(headers))
    connected, _ = await ws.connect()
    if not connected:
        return None
    assert (await ws.receive_json_from(timeout=5))["type"] == "status"
    return ws


async def handshake(app, origin: str | None, host: str = SITE_HOST, **scope) -> bool:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    ws = await opened(app, headers, **scope)
    if ws is not None:
        await ws.disconnect()
    return ws is not None


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:9999",  # another port and host
        "https://127.0.0.1",  # another scheme (and port)
        "http://127.0.0.1:9999",  # another port
        "http://localhost:8000",  # another host, though one of ALLOWED_HOSTS
        "http://evil.example.net",
        "null",  # a sandboxed frame or a file
    ],
)
async def test_an_origin_other_than_the_sites_scheme_host_and_port_is_refused(application, origin):
    assert not await handshake(application, origin)
    assert await handshake(application, "http://127.0.0.1:8000")


async def test_a_handshake_without_an_origin_is_not_a_browser_and_is_let_through(application):
    assert await handshake(application, None)


async def test_a_host_this_site_does_not_answer_as_is_refused_even_from_its_own_origin(
    application,
):
    # DNS rebinding: evil.example resolving to this server; its page is its own origin.
    assert not await handshake(application, "http://evil.example:8000", host="evil.example:8000")


async def test_a_tls_handshake_takes_an_https_origin_only(application):
    assert await handshake(application, "https://127.0.0.1:8000", scheme="wss")
    assert not await handshake(application, "http://127.0.0.1:8000", scheme="wss")


async def test_behind_a_tls_proxy_its_forwarded_proto_gives_the_scheme(application, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    site = "marketstream.example.com"
    proxied = [(b"host", site.encode()), (b"x-forwarded-proto", b"https")]
    for origin, allowed in ((f"https://{site}", True), (f"http://{site}", False)):
        ws = await opened(application, [*proxied, (b"origin", origin.encode())])
        assert (ws is not None) is allowed, origin
        if ws is not None:
            await ws.disconnect()
    assert not await handshake(application, f"https://{site}", host=site)  # no header: http


async def test_csrf_trusted_origins_are_trusted_here_too(application, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.trading.example.com"]
    assert await handshake(application, "https://app.example.com")
    assert await handshake(application, "https://desk.trading.example.com")
    assert not await handshake(application, "http://app.example.com")


async def test_debug_without_allowed_hosts_serves_localhost_pages(application, settings):
    settings.DEBUG, settings.ALLOWED_HOSTS = True, []
    assert await handshake(application, "http://localhost:8000", host="localhost:8000")
    assert not await handshake(application, "http://localhost:9999", host="localhost:8000")


# --- per-address cap ------------------------------------------------------------------


async def test_the_cap_refuses_the_next_socket_of_an_address_until_one_closes(
    application, settings
):
    settings.WS_MAX_CONNECTIONS_PER_IP = 3
    client = {"client": ["198.51.100.7", 50000]}
    sockets = [await opened(application, **client) for _ in range(3)]
    assert all(sockets)
    assert await opened(application, **client) is None  # the 4th: refused (403 under daphne)
    other = await opened(application, client=["198.51.100.8", 50000])
    assert other is not None  # another address has its own count
    await sockets.pop().disconnect()
    again = await opened(application, **client)
    assert again is not None
    for ws in (*sockets, other, again):
        await ws.disconnect()


async def test_behind_a_proxy_the_cap_counts_the_forwarded_address(application, settings):
    settings.WS_MAX_CONNECTIONS_PER_IP = 2
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_FORWARDED_FOR"
    proxy = {"client": ["10.0.0.2", 40000]}  # every socket comes from the proxy
    alice = [(b"x-forwarded-for", b"203.0.113.5, 10.0.0.9")]  # the first address: hers
    first = [await opened(application, alice, **proxy) for _ in range(2)]
    assert all(first)
    assert await opened(application, alice, **proxy) is None
    bob = await opened(application, [(b"x-forwarded-for", b"203.0.113.6")], **proxy)
    assert bob is not None
    for ws in (*first, bob):
        await ws.disconnect()


async def test_a_slot_is_freed_however_the_socket_ends(application, settings):
    settings.WS_MAX_CONNECTIONS_PER_IP = 1
    settings.WS_MESSAGE_BURST, settings.WS_FLOOD_REFUSALS_BEFORE_CLOSE = 1, 1
    client = {"client": ["198.51.100.9", 50000]}
    ws = await opened(application, **client)
    assert await opened(application, **client) is None
    await ws.send_to(text_data="ping")
    await ws.send_to(text_data="ping")  # over the budget: the server closes it
    assert await ws.receive_json_from(timeout=5) == {"type": "pong"}
    assert (await ws.receive_output(timeout=5))["code"] == 4429
    await ws.send_input({"type": "websocket.disconnect", "code": 4429})
    await ws.wait(timeout=5)
    ws = await opened(application, **client)
    assert ws is not None and await opened(application, **client) is None
    ws.future.cancel()  # the server gave up on the application instance
    await ws.wait(timeout=5)
    ws = await opened(application, **client)
    assert ws is not None
    await ws.disconnect()


# --- messages ---------------------------------------------------------------------------


async def test_a_message_over_ws_max_message_bytes_gets_an_error_and_the_socket_stays_open(
    application, settings
):
    settings.WS_MAX_MESSAGE_BYTES = 8 * 1024  # under daphne a frame this big closes: 1009
    ws = await opened(application)
    subscribe = {"action": "subscribe", "keys": ["NSE_EQ:2885"], "pad": "x" * 10_000}
    await ws.send_to(text_data=json.dumps(subscribe))
    reply = await ws.receive_json_from(timeout=5)
    assert reply["type"] == "error" and reply["error"].startswith("frame over 8 KiB"), reply
    await ws.send_to(text_data="ping")
    assert await ws.receive_json_from(timeout=5) == {"type": "pong"}
    await ws.disconnect()


async def test_the_limit_counts_utf8_bytes_and_100_kib_is_over_the_default(application):
    ws = await opened(application)
    for text in ("€" * 25_000, "x" * 100 * 1024, "é" * 30_000):  # 75,000, 102,400, 60,000 B
        await ws.send_to(text_data=text)
        reply = await ws.receive_json_from(timeout=5)
        assert ("frame over 64 KiB" in reply["error"]) is (len(text.encode()) > 65536), reply
    await ws.disconnect()


@pytest.mark.parametrize(
    "text",
    [
        "[" * 1000 + "]" * 1000,
        '{"action": "subscribe", "keys": ' + "[" * 40 + "]" * 40 + "}",
        '{"a": ' * 100 + "1" + "}" * 100,
    ],
)
async def test_deep_json_gets_an_error_and_the_socket_stays_open(application, text):
    ws = await opened(application)
    await ws.send_to(text_data=text)
    assert await ws.receive_json_from(timeout=5) == {
        "type": "error",
        "error": "JSON nested deeper than 32 levels",
    }
    await ws.send_to(text_data="ping")
    assert await ws.receive_json_from(timeout=5) == {"type": "pong"}
    await ws.disconnect()
