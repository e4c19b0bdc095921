"""The simulator's live order updates: DhanHQ's order-update WebSocket, served by
`server.DhanSimulator` on the feed's port at `/orderupdate`.

- The client's first text frame is the login, `{"LoginReq": {"MsgCode": 42, "ClientId":
  ..., "Token": ...}, "UserType": "SELF"}` (MsgCode 42 or "42"). A good login gets no
  reply: DhanHQ documents none.
- After it, every status change of that client id's orders goes to each of its logged-in
  sockets as `{"Data": {...}, "Type": "order_alert"}` (`ordershapes.alert_text`). Frames
  the client sends later are ignored.
- A refused login: DhanHQ does not document how it refuses one, so this is the
  simulator's stand-in: one text frame `{"Type": "error", "Data": {"ErrorCode": code,
  "Message": ...}}`, then a close with code 4001. Codes: "809" an unknown client id or a
  wrong token, "807" an expired token, "814" a malformed login (not JSON, no LoginReq,
  MsgCode not 42, a UserType other than SELF). An account whose token expires while
  logged in gets the same, with "807".
- Tests can drop every socket (`drop_all`, as a network failure would) and refuse new
  handshakes (`refuse_handshakes`, or `down_until` a `time.monotonic()`) with HTTP 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from dhan.simulator.config import TOKEN_EXPIRED, SimulatorConfig

ORDER_UPDATE_PATH = "/orderupdate"
LOGIN_REFUSED_CLOSE_CODE = 4001
LOGIN_MSG_CODES = (42, "42")
MALFORMED_LOGIN = "814"
ERROR_MESSAGES = {
    "807": "Access token expired",
    "809": "Client ID or access token invalid",
    "814": "Invalid login request",
}


@dataclass(eq=False)
class OrderSession:
    ws: ServerConnection
    client_id: str


class OrderSocketServer:
    """The order-update sockets; `handle` is routed by path, `run` sends the alerts."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.sessions: list[OrderSession] = []
        self.logins = 0  # good logins
        self.refused_logins: list[str] = []  # the ErrorCode of each refused login
        self.alerts_sent: list[tuple[str, str]] = []  # (client id, message) per socket send
        self.refuse_handshakes = False  # while set, new handshakes get HTTP 503
        self.down_until = 0.0  # time.monotonic() until which handshakes get 503
        self.handshakes_refused = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[str, str]] | None = None

    def refusing(self) -> bool:
        return self.refuse_handshakes or time.monotonic() < self.down_until

    def publish(self, client_id: str, message: str) -> None:
        """Send `message` to every socket of `client_id` (from any thread; in order)."""
        if self._loop is not None and self._queue is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is stopping
                self._loop.call_soon_threadsafe(self._queue.put_nowait, (client_id, message))

    async def run(self) -> None:
        """The sender: alerts go out in the order they were published."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        while True:
            client_id, message = await self._queue.get()
            for session in [s for s in self.sessions if s.client_id == client_id]:
                with contextlib.suppress(ConnectionClosed):
                    await session.ws.send(message)
                    self.alerts_sent.append((client_id, message))

    async def handle(self, ws: ServerConnection) -> None:
        """One socket: the login, then alerts until it closes."""
        try:
            first = await ws.recv()
        except ConnectionClosed:
            return
        login = _login(first)
        if login is None:
            await self.refuse(ws, MALFORMED_LOGIN)
            return
        client_id, token = login
        reason = self.config.auth_refusal(client_id, token)
        if reason is not None:
            await self.refuse(ws, str(TOKEN_EXPIRED if reason == TOKEN_EXPIRED else 809))
            return
        session = OrderSession(ws, client_id)
        self.sessions.append(session)
        self.logins += 1
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass
        finally:
            self.sessions.remove(session)

    async def refuse(self, ws: ServerConnection, code: str) -> None:
        """The error frame, then a close with 4001."""
        self.refused_logins.append(code)
        error = {"Type": "error", "Data": {"ErrorCode": code, "Message": ERROR_MESSAGES[code]}}
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(error))
            await ws.close(LOGIN_REFUSED_CLOSE_CODE, "login refused")

    async def refuse_client(self, client_id: str, code: str) -> None:
        for session in [s for s in self.sessions if s.client_id == client_id]:
            await self.refuse(session.ws, code)

    def drop_all(self) -> None:
        """Abort every socket, as a network failure would (call on the loop)."""
        for session in list(self.sessions):
            session.ws.transport.abort()

    async def close_all(self) -> None:
        for session in list(self.sessions):
            await session.ws.close()


def _login(frame: str | bytes) -> tuple[str, str] | None:
    """(client id, token) of a login frame; None if it is not one."""
    try:
        message = json.loads(frame)
        request = message["LoginReq"]
        client_id, token = request["ClientId"], request["Token"]
    except (ValueError, TypeError, KeyError):
        return None
    if (
        request.get("MsgCode") not in LOGIN_MSG_CODES
        or message.get("UserType") != "SELF"
        or not isinstance(client_id, str)
        or not isinstance(token, str)
    ):
        return None
    return client_id, token
