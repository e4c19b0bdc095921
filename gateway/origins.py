"""The WebSocket origin check: a page may open `/ws/dashboard/` only from this site, scheme,
host and port. Called for every handshake (`BrowserOriginValidator`, in the WebSocket
stack `marketstream.asgi.build_application` builds).

As Django's CSRF check verifies a POST's Origin: the Origin must be the handshake's own
origin, `http://` or `https://` and its Host header, which must be one of ALLOWED_HOSTS
(Django's `get_host`: DEBUG with no ALLOWED_HOSTS takes localhost's names, and
USE_X_FORWARDED_HOST is honoured), or be one of CSRF_TRUSTED_ORIGINS. The scheme is https
for a `wss` handshake (the scope's `scheme`; daphne's TLS connections get it from
`gateway.daphneoptions`) or, behind a TLS proxy (`DJANGO_HTTPS=proxy`), when
SECURE_PROXY_SSL_HEADER says so. So `http://localhost:9999` or `https://127.0.0.1` is
refused where the page is `http://127.0.0.1:8000`: another port or scheme is another site.

A handshake with no Origin at all is let through. The check exists so that another site's
page cannot open a socket with a visitor's session cookie, and browsers always send Origin
on a WebSocket handshake; clients that send none are scripts and servers, which carry no
visitor's cookie (and get only public data unless they log in).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.utils.http import is_same_domain

from gateway.wscap import refuse_handshake

logger = logging.getLogger(__name__)


class Handshake(HttpRequest):
    """A WebSocket handshake as Django's host and scheme checks read a request: its headers
    as META (as `django.core.handlers.asgi.ASGIRequest` makes them), its transport's
    scheme from the ASGI scope."""

    def __init__(self, scope: dict) -> None:
        super().__init__()
        self._secure_transport = scope.get("scheme") in ("wss", "https")
        server = scope.get("server") or ("unknown", "0")
        self.META = {"SERVER_NAME": str(server[0]), "SERVER_PORT": str(server[1])}
        for name, value in scope.get("headers", ()):
            key = "HTTP_" + name.decode("latin1").upper().replace("-", "_")
            text = value.decode("latin1")
            self.META[key] = f"{self.META[key]},{text}" if key in self.META else text

    def _get_scheme(self) -> str:
        return "https" if self._secure_transport else "http"


def _trusted(origin: str) -> bool:
    """Whether CSRF_TRUSTED_ORIGINS lists `origin` (exactly, or as `scheme://*.domain`)."""
    for pattern in settings.CSRF_TRUSTED_ORIGINS:
        if "*" not in pattern:
            if origin == pattern:
                return True
            continue
        allowed, parsed = urlsplit(pattern), urlsplit(origin)
        if parsed.scheme == allowed.scheme and is_same_domain(
            parsed.netloc, allowed.netloc.lstrip("*")
        ):
            return True
    return False


def site_origin(handshake: Handshake) -> str | None:
    """The origin of the page this handshake should come from, or None when its Host is
    not one this site answers as."""
    try:
        return f"{handshake.scheme}://{handshake.get_host()}"
    except DisallowedHost:
        return None


def origin_allowed(scope: dict) -> bool:
    """Whether a handshake may go on: no Origin, or this site's (see the module's doc)."""
    if not any(name == b"origin" for name, _ in scope.get("headers", ())):
        return True  # not a browser (checked first: the connect path stays cheap)
    handshake = Handshake(scope)
    origin = handshake.META["HTTP_ORIGIN"]
    site = site_origin(handshake)
    if (site is not None and origin.lower() == site.lower()) or _trusted(origin):
        return True
    logger.info("WebSocket handshake refused: Origin %r is not this site (%s)", origin, site)
    return False


class BrowserOriginValidator:
    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        """Each WebSocket handshake: on to the application, or refused (HTTP 403)."""
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        await refuse_handshake(receive, send)
