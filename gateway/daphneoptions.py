"""What each daphne WebSocket connection is told that daphne has no option for: the ASGI
app's outermost layer (`DaphneOptionsMiddleware`, made by `marketstream.asgi.
build_application`), where daphne's `send` is still its own. Under any other server (or a
test communicator) it does nothing.

- A connection that breaks a limit ends with a close code, not a dropped TCP connection:
  daphne sizes frames and messages at 1 MiB (`websocket_max_frame_size`, `..._message_size`)
  and autobahn, past them, fails the connection, which with its `failByDrop` default
  (True) means a TCP drop, no close frame: the client saw neither 1009 nor an `error`.
  With it off, autobahn sends 1009 ("message too big") and closes the usual way (its
  protocol errors get their close codes, 1002 and 1007, as well).
- A frame over WS_MAX_MESSAGE_BYTES is closed with 1009 as its header arrives, before its
  payload is read: the connection's `maxFramePayloadSize`, which autobahn checks only on
  frames it receives (its `maxMessagePayloadSize` would also cap what we send: snapshots
  can be larger). Here, because the consumer cannot: autobahn's `sendClose` takes only
  1000 and 3000-4999 from an application. A message of many smaller frames (browsers
  send one frame a message) is sized by the consumer: an `error` (`prices.clientlimits`).
- The scope's `scheme` over TLS: daphne leaves it out of a WebSocket scope (ASGI's default
  is `ws`), so the origin check (`gateway.origins`) would take a TLS site for plain.
"""

from __future__ import annotations

import functools
import sys

from django.conf import settings
from twisted.internet.interfaces import ISSLTransport  # an interface: no reactor installed


def daphne_websocket(send):
    """The daphne WebSocket protocol behind an ASGI `send`, or None under any other server
    (or a test communicator). daphne hands each application instance
    `functools.partial(server.handle_reply, protocol)` (`daphne.server.Server.
    create_application`); checked against daphne's own classes, nothing else is assumed.
    Looked up in `sys.modules`: importing daphne.server would install its reactor."""
    server_module, ws_module = (
        sys.modules.get("daphne.server"),
        sys.modules.get("daphne.ws_protocol"),
    )
    if server_module is None or ws_module is None or not isinstance(send, functools.partial):
        return None
    if getattr(send.func, "__func__", None) is not server_module.Server.handle_reply:
        return None
    if len(send.args) != 1 or not isinstance(send.args[0], ws_module.WebSocketProtocol):
        return None
    return send.args[0]


def tune(protocol) -> None:
    """Called by `DaphneOptionsMiddleware` as the handshake arrives, before the socket is
    accepted (so before any frame of the client's is read): the options above. autobahn
    copied the factory's options to the connection when it was made; these are its own."""
    protocol.failByDrop = False
    limit = settings.WS_MAX_MESSAGE_BYTES
    if limit > 0 and not 0 < protocol.maxFramePayloadSize <= limit:
        protocol.maxFramePayloadSize = limit


class DaphneOptionsMiddleware:
    """The outermost layer: a daphne WebSocket connection tuned (`tune`), its scope given
    `scheme` `wss` when it came over TLS."""

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and (protocol := daphne_websocket(send)) is not None:
            tune(protocol)
            if "scheme" not in scope and ISSLTransport(protocol.transport, None) is not None:
                scope = {**scope, "scheme": "wss"}
        return await self.inner(scope, receive, send)
