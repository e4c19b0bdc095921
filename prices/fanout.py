"""This web process's one member of `dashboard_updates` and of its users' groups: it
receives each group message once and hands it to the `/ws/dashboard/` consumers of the
process it is for, in one pass: a window or another `dashboard_updates` message to every
one, a per-user event (`prices.userpush`) to that user's only.

Why not one group member per consumer, as Channels does by default: every window would
then cost a queue put, a task wake-up and an `asyncio.wait` per client, and all of them
run before the first frame is written (1,000 clients: about 60 ms before anyone gets a
byte). One member per process costs one receive per window; consumers join and leave
this process's set instead (`join` returns once the process is in the group, so "join
first, snapshot second" holds). Consumers call `join`/`leave` and `add_user`/
`discard_user` on their process's fan-out (`LivePrices.fanout`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Protocol

import redis
from channels.layers import BaseChannelLayer, get_channel_layer

from prices.broadcast import GROUP, WINDOW_MESSAGE_TYPE
from prices.loops import raise_if_cancelling
from prices.userpush import USER_EVENT_TYPE, user_group

logger = logging.getLogger(__name__)

# Yield to the event loop after this many clients: the socket reads, pings and connects
# that wait meanwhile are served within a few ms. (Under daphne a window's frames are
# written as each client is reached, `gateway.sharedframes.DaphneFrames`; elsewhere the
# server writes them in these turns.)
CLIENTS_PER_SLICE = 200
# Group memberships expire on some layers (in-memory and the core Redis layer: a day);
# renewing is idempotent and keeps a long-running process in the group.
GROUP_RENEW_SECONDS = 600.0
RETRY_DELAY_SECONDS = 1.0


class Member(Protocol):
    """What the fan-out calls on a client (`prices.consumers.PricesConsumer`)."""

    def window_now(self, event: dict) -> bool: ...

    async def ltp_window(self, event: dict) -> None: ...

    async def dispatch(self, message: dict) -> None: ...


class _UserSockets:
    """One user's consumers in this process, and whether the process is in their group.
    The lock orders the joins and leaves of the user's group: a socket that opens while
    the last one closes still finds the process in the group once it has been let in."""

    __slots__ = ("in_group", "lock", "members")

    def __init__(self) -> None:
        self.members: weakref.WeakSet[Member] = weakref.WeakSet()
        self.lock = asyncio.Lock()
        self.in_group = False


class LocalFanout:
    """Owner of the receiving task; `stop()` ends it and leaves the group."""

    def __init__(self) -> None:
        # Weak references in a plain set: copying a set is one step under the GIL, so
        # `consumers()` is safe from other threads (the subscriptions view), unlike
        # iterating a WeakSet while the loop adds to it.
        self._refs: set[weakref.ref[Member]] = set()
        self._task: asyncio.Task | None = None
        self._joined: asyncio.Event | None = None
        self._channel: str | None = None
        self._users: dict[int, _UserSockets] = {}  # used on the loop only
        self.messages_received = 0

    def consumers(self) -> list[Member]:
        return [c for ref in self._refs.copy() if (c := ref()) is not None]

    async def join(self, consumer: Member) -> None:
        """Add a consumer once this process receives the group's messages. Raises what
        kept the process from joining (the layer's Redis down, say) instead of waiting."""
        task, in_group = self._ensure_running()
        if in_group.is_set():  # the usual case: the process's member is in the group
            self._refs.add(weakref.ref(consumer, self._refs.discard))
            return
        joined = asyncio.ensure_future(in_group.wait())
        await asyncio.wait({joined, task}, return_when=asyncio.FIRST_COMPLETED)
        if not joined.done():
            joined.cancel()
            task.result()  # raises why the fan-out ended before it joined
        self._refs.add(weakref.ref(consumer, self._refs.discard))

    def leave(self, consumer: Member) -> None:
        self._refs.discard(weakref.ref(consumer))  # equal while the consumer lives

    async def add_user(self, consumer: Member, user_id: int) -> None:
        """`consumer` gets its user's events (`prices.userpush`) from now on: the process's
        member joins the user's group with the user's first consumer, once for all of
        them. Called by the consumer at connect, after `join`."""
        sockets = self._users.get(user_id)
        if sockets is None:
            sockets = self._users[user_id] = _UserSockets()
        sockets.members.add(consumer)
        async with sockets.lock:
            if not sockets.in_group and self._channel is not None:
                await get_channel_layer().group_add(user_group(user_id), self._channel)
            sockets.in_group = True  # or the fan-out, while it (re)joins, adds it

    async def discard_user(self, consumer: Member, user_id: int) -> None:
        """At disconnect: the process leaves the user's group with its last consumer."""
        sockets = self._users.get(user_id)
        if sockets is None:
            return
        sockets.members.discard(consumer)
        async with sockets.lock:
            if sockets.members or not sockets.in_group:
                return  # another socket of the user still listens (or came meanwhile)
            sockets.in_group = False
            if self._channel is not None:
                with contextlib.suppress(OSError, redis.RedisError):
                    await get_channel_layer().group_discard(user_group(user_id), self._channel)
            if not sockets.members and self._users.get(user_id) is sockets:
                del self._users[user_id]

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _ensure_running(self) -> tuple[asyncio.Task, asyncio.Event]:
        """The receiving task on this loop (started if none runs) and the event it sets
        once the process's member is in the group."""
        loop = asyncio.get_running_loop()
        task, joined = self._task, self._joined
        if task is None or joined is None or task.done() or task.get_loop() is not loop:
            joined = self._joined = asyncio.Event()
            self._channel = None
            task = self._task = loop.create_task(self._run(joined), name="dashboard-fanout")
        return task, joined

    async def _run(self, joined: asyncio.Event) -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel("dashboard-fanout.")
        await layer.group_add(GROUP, channel)
        self._channel = channel  # from here `add_user` joins users' groups itself
        for user_id in list(self._users):  # a restarted fan-out keeps its users' groups
            await layer.group_add(user_group(user_id), channel)
        joined.set()
        try:
            # Never time out a receive: the pub/sub layer drops a channel whose receive
            # is cancelled, and what arrived meanwhile with it.
            await asyncio.gather(self._receive(layer, channel), self._renew(layer, channel))
        finally:
            with contextlib.suppress(OSError, redis.RedisError):
                await asyncio.shield(layer.group_discard(GROUP, channel))

    async def _receive(self, layer: BaseChannelLayer, channel: str) -> None:
        while True:
            try:
                message = await layer.receive(channel)
            except (OSError, redis.RedisError) as exc:
                raise_if_cancelling(exc)
                logger.warning("fan-out lost the channel layer (%s); retrying", exc)
                await asyncio.sleep(RETRY_DELAY_SECONDS)
                continue
            self.messages_received += 1
            await self.deliver(message)

    async def _renew(self, layer: BaseChannelLayer, channel: str) -> None:
        while True:
            await asyncio.sleep(GROUP_RENEW_SECONDS)
            try:
                for group in (GROUP, *map(user_group, list(self._users))):
                    await layer.group_add(group, channel)
            except (OSError, redis.RedisError) as exc:
                raise_if_cancelling(exc)
                logger.warning("fan-out could not renew its group membership (%s)", exc)

    async def deliver(self, message: dict) -> None:
        """Hand one group message to the consumers of this process it is for: a window or
        another `dashboard_updates` message to every one, a user's event to that user's.
        One failing client is logged and skipped; it never stops the others."""
        kind = message.get("type")
        if kind == USER_EVENT_TYPE:
            user_id = message.get("user_id")
            sockets = self._users.get(user_id) if isinstance(user_id, int) else None
            consumers = list(sockets.members) if sockets is not None else []
        else:
            consumers = self.consumers()
        window = kind == WINDOW_MESSAGE_TYPE
        for count, consumer in enumerate(consumers, 1):
            try:
                if window:
                    if not consumer.window_now(message):
                        await consumer.ltp_window(message)
                else:
                    await consumer.dispatch(message)
            except Exception:
                logger.exception("dashboard consumer failed on a %s message", kind)
            if count % CLIENTS_PER_SLICE == 0:
                await asyncio.sleep(0)
