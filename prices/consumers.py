"""`/ws/dashboard/`'s base: live prices for the keys a client subscribed to. It owns the
socket, the receive loop, the client's limits and its subscriptions; the consumer the
route serves adds features to it (`prices.composition`, `marketstream.consumers`).

Joins `dashboard_updates` on connect, through this process's one group member (the
fan-out of the process's `LivePrices`, found in the scope); each window message becomes at
most one `screener_ltp_update` with the client's keys that changed. Payloads are built once
per window per distinct key set in this process (clients on the same page share them).
Nothing is queued per client: a window's values replace the last ones.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import redis
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from prices.clientjson import ClientJsonError, loads_client_json
from prices.clientlimits import MessageLimits
from prices.subscriptions import RequestError, Subscription, read_records, read_snapshot, requested
from prices.windows import DEPTH, LTP, MODES, Frame

logger = logging.getLogger(__name__)

MAX_KEYS_PER_CONNECTION = LTP.max_keys
OWN_ACTIONS = frozenset({"ping", "subscribe", "unsubscribe"})  # a feature's may not be these


class SharedFrames(Protocol):
    """What the server offers for writing one `Frame` to many clients, in the scope under
    `"shared_frames"` (daphne: `gateway.sharedframes.DaphneFrames`): the same bytes on the
    wire as `send(text_data=frame.text)`, encoded once for every client."""

    def send_shared(self, frame: Frame) -> None: ...


class PricesConsumer(AsyncWebsocketConsumer):
    # No channel of its own: everything sent to this consumer comes through the process's
    # fan-out (one group member per process), so the per-consumer channel Channels would
    # make (a Redis SUBSCRIBE per client with the pub/sub layer) would only cost.
    channel_layer_alias = None

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict]],
        send: Callable[[dict], Awaitable[None]],
    ) -> None:
        """daphne calls this once per socket. Channels' `AsyncConsumer.__call__` without a
        channel: one loop over `receive`, where Channels would keep a receive task and
        an `asyncio.wait` per message for a channel this consumer does not have (the
        fan-out calls it directly)."""
        self.scope, self.channel_layer, self.base_send = scope, None, send
        with contextlib.suppress(StopConsumer):
            while True:
                await self.dispatch(await receive())

    async def dispatch(self, message: dict) -> None:
        """Each client event (connect, receive, disconnect) and each other group message
        from the fan-out. As Channels' `dispatch`, less its `aclose_old_connections` per
        message (a thread hop each): the ORM is reached only through
        `database_sync_to_async`, which closes old connections around every call."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        """A client opened the socket: join the group (through the fan-out), accept, and
        send the feed status."""
        self.live = self.scope["live"]
        self.shared_frames: SharedFrames | None = self.scope.get("shared_frames")
        # ltp, quote and depth from the start; a candle timeframe's when first asked for
        # (thousands of connections: eight more objects each would be held for nothing).
        self.subscriptions = {m.name: Subscription(m) for m in MODES.values() if m.tf is None}
        self._active: tuple[Subscription, ...] = ()  # those with keys (windows' hot path)
        self.last_seq = 0
        self.status: str | None = None
        self.limits = MessageLimits()
        # Join first, snapshot on subscribe second: nothing falls between.
        await self.join_group()
        await self.accept()
        self.live.ensure_started()
        status = await self.live.broadcaster.current_status()
        if self.status is None:  # else a window brought it while this was read: sent once
            await self._send_status(status)

    @property
    def keys(self) -> frozenset[str]:
        """The keys whose prices this client gets (ltp mode)."""
        return self.subscriptions["ltp"].keys

    async def disconnect(self, code: int) -> None:
        """The socket closed: leave the process's set of clients (and depth watchers)."""
        depth = self.subscriptions["depth"]
        if depth.keys:
            self._set_keys(depth, frozenset())  # and the depth watchers told
        await self.leave_group()

    async def join_group(self) -> None:
        """Join `dashboard_updates` through this process's one member (the fan-out)."""
        await self.live.fanout.join(self)

    async def leave_group(self) -> None:
        self.live.fanout.leave(self)

    # --- client -> server -----------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """A client message: subscribe, unsubscribe or ping; anything else gets an error.
        Within the connection's limits only (rate and size: `prices.clientlimits`); a client
        that keeps flooding is closed."""
        data = text_data if text_data is not None else bytes_data or b""
        refusal = await self.limits.refusal(data)
        if refusal is not None:
            if refusal.close_code is not None:
                await self.close(code=refusal.close_code)
            else:
                await self._error(refusal.error)
            return
        try:
            await self._receive(text_data)
        except Exception as exc:  # bad input of a shape nobody foresaw: answer, stay open
            logger.warning("client message refused: %s: %s", type(exc).__name__, exc)
            await self._error("message not understood")

    async def _receive(self, text_data: str | None) -> None:
        if text_data is None:
            await self._error("binary frames are not supported: send JSON text")
            return
        if text_data.strip() == "ping":
            await self._send({"type": "pong"})
            return
        try:
            message = loads_client_json(text_data)
        except ClientJsonError as exc:  # not JSON, or nested deeper than any message of ours
            await self._error(str(exc))
            return
        action = message.get("action") if isinstance(message, dict) else None
        handled = isinstance(message, dict) and await self.on_action(action, message)
        if not handled:
            await self._error(f"unknown action {action!r}: use subscribe, unsubscribe or ping")

    async def on_action(self, action: object, message: dict) -> bool:
        """One parsed client message; False for an action this consumer does not know
        (the composed consumer routes its features' actions: `prices.composition`)."""
        if action == "ping":
            await self._send({"type": "pong"})
        elif action in ("subscribe", "unsubscribe"):
            try:
                mode, keys = requested(message)
            except RequestError as exc:
                await self._error(str(exc))
            else:
                sub = self.subscriptions.get(mode.name)
                if sub is None:
                    sub = self.subscriptions[mode.name] = Subscription(mode)
                await self._change_keys(action, keys, sub)
        else:
            return False
        return True

    async def _change_keys(self, action: str, keys: list[str], sub: Subscription) -> None:
        if action == "unsubscribe":
            self._set_keys(sub, sub.keys.difference(keys))
            await self._ack(action, sub)
            return
        wanted = sub.keys.union(keys)
        if len(wanted) > sub.mode.max_keys:
            await self._error(f"at most {sub.mode.max_keys} keys per connection")
            return
        self._set_keys(sub, wanted)
        await self._ack(action, sub)
        await self._snapshot(sub, keys)

    def _set_keys(self, sub: Subscription, keys: frozenset[str]) -> None:
        if sub.mode is DEPTH:  # the deployment's depth connection follows its watchers
            self.live.depth_watchers.change(added=keys - sub.keys, removed=sub.keys - keys)
        sub.keys = keys
        self._active = tuple(s for s in self.subscriptions.values() if s.keys)

    async def _ack(self, action: str, sub: Subscription) -> None:
        ack: dict = {"type": "ack", "action": action}
        if sub.mode is not LTP:  # ltp's ack stays as it always was
            ack["mode"] = sub.mode.client_name
        if sub.mode.tf is not None:
            ack["tf"] = sub.mode.tf
        await self._send({**ack, "count": len(sub.keys)})

    async def _snapshot(self, sub: Subscription, keys: list[str]) -> None:
        """The subscribed keys' cached values, right after the ack. Windows run on the
        fan-out task, not this one: they are held until the snapshot is out, or an older
        snapshot could land after a newer update."""
        sub.snapshot_time, sub.snapshot_keys = time.time(), frozenset(keys)
        sub.snapshotting = True
        try:
            if sub.mode is LTP:
                values: dict = await self.read_snapshot(keys)
            else:
                values = await read_records(sub.mode, keys)
        except redis.RedisError:
            values = {}
            logger.warning("snapshot unavailable: price cache unreachable")
        finally:
            sub.snapshotting = False
        snapshot: dict = {"type": sub.mode.snapshot_type}
        if sub.mode.tf is not None:
            snapshot["tf"] = sub.mode.tf
        await self._send({**snapshot, sub.mode.field: values})
        held = sub.take_held()
        if held is not None:
            await self.send(text_data=held)

    async def read_snapshot(self, keys: list[str]) -> dict[str, float]:
        return await read_snapshot(keys)

    # --- group -> client (called by the fan-out) --------------------------------------

    def window_now(self, event: dict) -> bool:
        """Called by the fan-out for each window, first: the whole of `ltp_window` when
        nothing in it needs awaiting (the usual window: this client's shared frames,
        written through the server), without a coroutine per client. False: nothing
        done, the fan-out awaits `ltp_window` (a status change, a snapshot in flight or
        newer than the window, no shared frames under this server)."""
        frames = self.shared_frames
        status = event.get("status")
        if frames is None or (status and status != self.status):
            return False
        ts, active = event["ts"], self._active
        for sub in active:
            if sub.snapshotting or ts < sub.snapshot_time:
                return False
        seq = event["seq"]
        if seq > self.last_seq:  # else a window seen already (leader handover)
            self.last_seq = seq
            windows = self.live.windows
            for sub in active:
                if frame := windows.payload(event, sub.keys, mode=sub.mode):
                    frames.send_shared(frame)
        return True

    async def ltp_window(self, event: dict) -> None:
        """A broadcast window, from the fan-out: this client's changed keys, once, in
        every mode it subscribed."""
        if event["seq"] <= self.last_seq:  # a window seen already (leader handover)
            return
        self.last_seq = event["seq"]
        if event.get("status") and event["status"] != self.status:
            await self._send_status(event["status"])
        for sub in self._active:
            payload = sub.on_window(event, self.live.windows)
            if payload is None:
                continue
            if type(payload) is Frame:
                if self.shared_frames is not None:
                    self.shared_frames.send_shared(payload)
                    continue
                payload = payload.text
            await self.send(text_data=payload)

    async def _send_status(self, status: str) -> None:
        self.status = status
        await self._send({"type": "status", "feed": status})

    async def _error(self, message: str) -> None:
        await self._send({"type": "error", "error": message})

    async def _send(self, message: dict) -> None:
        await self.send(text_data=json.dumps(message, separators=(",", ":")))

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)
