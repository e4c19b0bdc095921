"""At most WS_MAX_CONNECTIONS_PER_IP open WebSockets per client address in this web process:
one address could otherwise open thousands (3,000 in 3.8 s, 104 MB, in a security test).
ASGI middleware in the WebSocket stack (`marketstream.asgi.build_application`).

The address is the one the API's rate limits count (`RATELIMIT_IP_META_KEY`'s header
behind a proxy, else the peer: `gateway.ratelimit.scope_client_address`). A handshake
past the cap is refused before it is accepted (HTTP 403); a connection holds its slot from
its handshake until its application instance ends, however the socket closed (the client,
the server, daphne cancelling the instance). Counted in a dict on the serving loop: the
connect path stays a lookup and an increment (the benchmarks measure connects a second).
WS_MAX_CONNECTIONS_PER_IP 0 turns the cap off.
"""

from __future__ import annotations

import logging

from django.conf import settings

from gateway.ratelimit import scope_client_address

logger = logging.getLogger(__name__)


async def refuse_handshake(receive, send) -> None:
    """Close before accept: daphne answers the handshake with 403. Called for a refused
    handshake here and by the origin check (`gateway.origins`); no consumer is made
    (Channels' `WebsocketDenier` would make one, with a channel, per refusal)."""
    await receive()  # websocket.connect
    await send({"type": "websocket.close"})


class ConnectionCap:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.open: dict[str, int] = {}  # address -> connections (handshakes included)
        self._capped: set[str] = set()  # addresses refused since they were last under the cap

    async def __call__(self, scope, receive, send):
        """Each WebSocket handshake, as daphne starts its application instance."""
        cap = settings.WS_MAX_CONNECTIONS_PER_IP
        address = scope_client_address(scope)
        held = self.open.get(address, 0)
        if 0 < cap <= held:
            if address not in self._capped:  # once per episode, not per refused handshake
                self._capped.add(address)
                logger.warning(
                    "WebSocket handshakes from %s refused: %d open (WS_MAX_CONNECTIONS_PER_IP)",
                    address,
                    held,
                )
            await refuse_handshake(receive, send)
            return
        self.open[address] = held + 1
        try:
            await self.inner(scope, receive, send)
        finally:
            self._release(address)

    def _release(self, address: str) -> None:
        left = self.open[address] - 1
        if left:
            self.open[address] = left
        else:
            del self.open[address]
        self._capped.discard(address)
