"""The WebSocket handshake's user: Channels' `AuthMiddlewareStack`, less a database thread
hop for a handshake that carries no session cookie.

Channels resolves `scope["user"]` with `database_sync_to_async` on every connect: a hop to
the one thread that serialises the process's ORM calls, and a close of old connections
around it, even when there is no session to look up. In a connect storm (a market open's
page loads, thousands at once) those hops queue behind each other. Without a session cookie
the user is anonymous whatever the database says, so it is set at once; with one (a
signed-in browser), Channels' own lookup runs as before.
"""

from __future__ import annotations

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.contrib.auth.models import AnonymousUser


class SessionUserMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope) -> None:
        if scope["session"].session_key is None:  # no (or an empty) session cookie
            scope["user"]._wrapped = AnonymousUser()
            return
        await super().resolve_scope(scope)


def session_user_stack(inner):
    """As `channels.auth.AuthMiddlewareStack`: cookies, the session, then the user."""
    return CookieMiddleware(SessionMiddleware(SessionUserMiddleware(inner)))
