"""Test parts for webhooks: local HTTP(S) receivers that record what reaches them, and a
DNS that answers what a test says (in place of `socket.getaddrinfo`, which is what the
system resolver and urllib3 both ask). Used by tests/webhooks and
tests/alerts/test_webhook_targets.py."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(http.server.BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.receiver.seen.append(Seen(self.path, dict(self.headers), body))
        self.send_response(self.receiver.status)
        for name, value in self.receiver.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Receiver:
    """A server on `host` (a free port unless `port`) that records every request and
    answers `status` with `headers`; over TLS when given a server context. Used with
    `with`, which starts and stops it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.seen: list[Seen] = []
        self.status, self.headers = status, headers or {}
        handler = type("Handler", (_Handler,), {"receiver": self})
        self.server = http.server.ThreadingHTTPServer((host, port), handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.host, self.port = host, self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str = "/hook", *, host: str | None = None, scheme: str = "http") -> str:
        return f"{scheme}://{host or self.host}:{self.port}{path}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class FakeDNS:
    """`socket.getaddrinfo` for the names in `answers` (a name -> its addresses, which a
    test may change between calls: DNS rebinding); every other host goes to the real one.
    `asked` lists the names looked up, in order."""

    def __init__(self, real) -> None:
        self.real = real
        self.answers: dict[str, list[str]] = {}
        self.asked: list[str] = []

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.answers:
            return self.real(host, port, family, type, proto, flags)
        self.asked.append(name)
        if not self.answers[name]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        found = []
        for address in self.answers[name]:
            af = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
            sockaddr = (address, int(port or 0)) + ((0, 0) if af == socket.AF_INET6 else ())
            found.append((af, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return found
