"""The WebSocket handshake's user (`gateway.wsauth`): anonymous at once without a
session cookie, the session's user with one, as Channels' AuthMiddlewareStack resolves it."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from gateway import wsauth


async def user_of(headers) -> object:
    seen = {}

    async def app(scope, receive, send):
        seen["user"] = scope["user"]
        await send({"type": "websocket.accept"})
        await receive()

    communicator = WebsocketCommunicator(wsauth.session_user_stack(app), "/ws/", headers)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.disconnect()
    return seen["user"]


@pytest.mark.django_db(transaction=True)
async def test_no_session_cookie_is_anonymous_without_a_database_lookup(monkeypatch):
    async def refuse(scope):
        raise AssertionError("the database was asked for a user without a session")

    monkeypatch.setattr("channels.auth.get_user", refuse)
    user = await user_of([(b"cookie", b"theme=dark")])
    assert user.is_anonymous


@pytest.mark.django_db(transaction=True)
async def test_a_session_cookie_gives_its_user_and_a_stale_one_anonymous():
    def login() -> str:
        client = Client()
        client.force_login(User.objects.create_user("asha"))
        return client.cookies["sessionid"].value

    session = await sync_to_async(login)()
    user = await user_of([(b"cookie", f"sessionid={session}".encode())])
    assert user.is_authenticated and user.username == "asha"
    stale = await user_of([(b"cookie", b"sessionid=not-a-session-anyone-has")])
    assert stale.is_anonymous
