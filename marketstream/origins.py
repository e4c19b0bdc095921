"""The WebSocket origin check: Channels' `AllowedHostsOriginValidator` (the Origin's host
must be one of ALLOWED_HOSTS; in DEBUG, localhost too), except that a handshake with no
Origin at all is let through. The check exists so that another site's page cannot open a
socket with a visitor's session cookie, and browsers always send Origin on a WebSocket
handshake; clients that send none are scripts and servers, which carry no visitor's
cookie (and get only public data unless they log in).
"""

from __future__ import annotations

from channels.security.websocket import OriginValidator
from django.conf import settings


def allowed_origins() -> list[str]:
    """As `channels.security.websocket.AllowedHostsOriginValidator` computes them."""
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return hosts


class BrowserOriginValidator(OriginValidator):
    def __init__(self, application) -> None:
        super().__init__(application, allowed_origins())

    def valid_origin(self, parsed_origin) -> bool:
        return parsed_origin is None or super().valid_origin(parsed_origin)
