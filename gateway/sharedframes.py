"""Window updates framed once per key set and written to many daphne WebSockets.

A window's update for a key set is the same bytes for every client that shares the set
(`prices.windows.Frame`); under daphne it is made into autobahn's prepared message once and
written to each socket from there (`DaphneFrames`), instead of going through each
consumer's `send`, daphne's `handle_reply` and autobahn's framing per client. Found from
an outer ASGI layer (`SharedFramesMiddleware`), where daphne's `send` is still its
own; under any other server (or a test communicator) consumers send as usual.
"""

from __future__ import annotations

import logging

from gateway.daphneoptions import daphne_websocket
from prices.windows import Frame

logger = logging.getLogger(__name__)

# What the direct write reads of Twisted's plain TCP transport (Twisted is pinned in
# requirements.txt; a transport without them is written the ordinary way).
_TRANSPORT_ATTRIBUTES = (
    "_tempDataBuffer",
    "_writeDisconnected",
    "dataBuffer",
    "offset",
    "socket",
    "SEND_LIMIT",
)


class DaphneFrames:
    """Writes a window's shared update to one daphne WebSocket. The frame is autobahn's
    prepared message, made once per key set for every client (`Frame.prepared`): the same
    bytes daphne's `websocket.send` path frames for the text, without the per-client
    encoding, framing and ASGI hops. Everything else a consumer sends goes daphne's way.

    Written at once when the socket's Twisted buffer is empty (nearly always: a client
    reads a window long before the next): the plain TCP transport's `socket.send`, as its
    `writeSomeData` ("write as much as possible, immediately", which `doWrite` calls once
    the reactor says writable) does. Going through `write` instead registers and
    unregisters the socket with the event loop for every window of every client (two
    `epoll_ctl` and a loop turn each; measured 5,000 clients: 53 -> 29 us per update,
    and the selector keys it churns were what filled the collector's oldest generation).
    A rest that did not fit, and any socket with bytes queued already (a slow client),
    compression, TLS or another transport, go autobahn's `sendPreparedMessage` ->
    `transport.write`, so ordering, daphne's ping timeout for a client that stops reading
    and the close path are Twisted's as before."""

    __slots__ = ("_direct", "_protocol", "_transport")

    def __init__(self, protocol) -> None:
        self._protocol = protocol
        self._transport = protocol.transport
        self._direct: bool | None = None  # known once the handshake is done

    def _can_write_directly(self) -> bool:
        """Plain TCP (no TLS) and no per-message deflate: fixed for the connection's life,
        and known from the first window on (the consumer accepted the socket by then)."""
        transport, protocol = self._transport, self._protocol
        self._direct = (
            type(transport).__module__ == "twisted.internet.tcp"
            and not transport.TLS
            and all(hasattr(transport, name) for name in _TRANSPORT_ATTRIBUTES)
            and not getattr(protocol, "websocket_extensions_in_use", True)
        )
        return self._direct

    def send_shared(self, frame: Frame) -> None:
        """Called by the consumer, on the serving loop, for a window's update. Nothing for a
        socket no longer open, as daphne drops sends to a closed connection (autobahn
        marks the protocol closed before daphne hears of the close)."""
        protocol = self._protocol
        if protocol.state != protocol.STATE_OPEN:
            return
        prepared = frame.prepared
        if prepared is None:
            prepared = frame.prepared = protocol.factory.prepareMessage(frame.text.encode())
        direct = self._direct if self._direct is not None else self._can_write_directly()
        if not (direct and self._written_now(prepared.payloadHybi)):
            protocol.sendPreparedMessage(prepared)

    def _written_now(self, data: bytes) -> bool:
        """Whether `data` went to the socket here (a rest queued behind it on Twisted's
        buffer); False: nothing written, send it the ordinary way. The socket's `send` as
        Twisted's `writeSomeData` calls it, less its frames (this runs per client per
        window): would block or interrupted -> nothing written; any other error -> the
        ordinary path, where Twisted sees the connection lost."""
        transport = self._transport
        if (
            self._protocol.send_queue  # autobahn's own queued writes come first
            or not transport.connected
            or transport.disconnecting
            or transport._writeDisconnected
            or transport._tempDataBuffer  # bytes waiting: they go first
            or len(transport.dataBuffer) != transport.offset
            or len(data) > transport.SEND_LIMIT
        ):
            return False
        try:
            sent = transport.socket.send(data)
        except OSError:
            return False
        if sent < len(data):
            transport.write(data[sent:])
        return True


def daphne_protocol(send):
    """The daphne WebSocket protocol behind an ASGI `send` when it frames each message as
    one frame (what a prepared message is), or None (another server, a test communicator)."""
    protocol = daphne_websocket(send)
    if protocol is None or protocol.autoFragmentSize:
        return None
    return protocol


class SharedFramesMiddleware:
    """An outer layer (only `gateway.daphneoptions` is outside it), where daphne's
    `send` is still its own: a WebSocket scope gets `"shared_frames"` (`DaphneFrames`)
    when the server is daphne."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self._logged = False

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and (protocol := daphne_protocol(send)) is not None:
            scope = {**scope, "shared_frames": DaphneFrames(protocol)}
            if not self._logged:
                self._logged = True
                logger.info("window updates framed once per key set (daphne, autobahn)")
        return await self.inner(scope, receive, send)
