"""One per-user push path: one envelope to one group per user, which each web process's
fan-out joins once while any of its sockets of that user is open, and which it hands to
that user's sockets only, each event once."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer

from prices.fanout import LocalFanout
from prices.userpush import USER_EVENT_TYPE, UnknownKindError, push_to_user, user_group
from tests.support.waiting import wait_until_async

ORDER_UPDATE = {"type": "order_update", "event": "traded", "order": {"order_no": "A-1"}}


class Socket:
    """What the fan-out calls on a consumer, recording the group messages it is handed."""

    def __init__(self) -> None:
        self.got: list[dict] = []

    def window_now(self, event: dict) -> bool:
        return True

    async def ltp_window(self, event: dict) -> None:
        pass

    async def dispatch(self, message: dict) -> None:
        self.got.append(message)


@pytest.fixture
async def fanouts():
    """Two web processes' fan-outs on one channel layer, stopped at the end."""
    made = [LocalFanout(), LocalFanout()]
    yield made
    for fanout in made:
        await fanout.stop()


async def sockets_of(fanout: LocalFanout, user_id: int | None, count: int) -> list[Socket]:
    """`count` sockets connected to `fanout`: signed in as `user_id`, or anonymous."""
    made = [Socket() for _ in range(count)]
    for socket in made:
        await fanout.join(socket)
        if user_id is not None:
            await fanout.add_user(socket, user_id)
    return made


async def until_received(fanout: LocalFanout, count: int) -> None:
    await wait_until_async(
        lambda: fanout.messages_received >= count,
        timeout=5,
        what=f"{count} messages received",
        interval=0.01,
    )


async def test_push_to_user_sends_one_envelope_with_the_client_message_to_the_users_group():
    layer = get_channel_layer()
    channel = await layer.new_channel("listener.")
    await layer.group_add(user_group(7), channel)
    await sync_to_async(push_to_user)(7, kind="order", message=ORDER_UPDATE)
    envelope = await asyncio.wait_for(layer.receive(channel), 5)
    assert envelope == {
        "type": USER_EVENT_TYPE,
        "user_id": 7,
        "kind": "order",
        "text": json.dumps(ORDER_UPDATE, separators=(",", ":")),
    }
    assert user_group(7) == "user_7"


async def test_an_unknown_kind_is_refused_before_anything_is_sent():
    layer = get_channel_layer()
    channel = await layer.new_channel("listener.")
    await layer.group_add(user_group(8), channel)
    with pytest.raises(UnknownKindError, match="'orders'"):
        await sync_to_async(push_to_user)(8, kind="orders", message=ORDER_UPDATE)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.2)


async def test_each_socket_of_the_user_gets_each_event_once_in_every_process_and_no_one_else(
    fanouts,
):
    first, second = fanouts
    alice_here = await sockets_of(first, 1, 2)
    alice_there = await sockets_of(second, 1, 1)
    bob = await sockets_of(first, 2, 1)
    anonymous = await sockets_of(first, None, 1) + await sockets_of(second, None, 1)
    await sync_to_async(push_to_user)(1, kind="alert", message={"type": "alert_triggered"})
    await until_received(first, 1)
    await until_received(second, 1)
    await asyncio.sleep(0.1)  # anything more would have arrived by now
    for socket in alice_here + alice_there:
        assert [(m["kind"], m["user_id"]) for m in socket.got] == [("alert", 1)]
    for socket in bob + anonymous:
        assert socket.got == []
    assert (first.messages_received, second.messages_received) == (1, 1)


async def test_a_process_joins_a_users_group_once_and_leaves_it_with_the_users_last_socket(
    fanouts,
):
    fanout = fanouts[0]
    groups = get_channel_layer().groups
    sockets = await sockets_of(fanout, 3, 3)
    assert len(groups[user_group(3)]) == 1  # the process's one member, for three sockets
    for socket in sockets[:2]:
        await fanout.discard_user(socket, 3)
    assert len(groups.get(user_group(3), {})) == 1  # the third still listens
    await fanout.discard_user(sockets[2], 3)
    assert not groups.get(user_group(3))


class GatedLayer(InMemoryChannelLayer):
    """The in-memory layer, whose `group_discard` waits until the test opens `gate`."""

    gate: asyncio.Event

    async def group_discard(self, group: str, channel: str) -> None:
        await GatedLayer.gate.wait()
        await super().group_discard(group, channel)


async def test_a_socket_that_opens_while_the_users_last_one_closes_still_gets_events(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.GatedLayer"}}
    GatedLayer.gate = asyncio.Event()
    fanout = LocalFanout()
    try:
        (closing,) = await sockets_of(fanout, 4, 1)
        leaving = asyncio.ensure_future(fanout.discard_user(closing, 4))
        await asyncio.sleep(0.05)  # the process is leaving the user's group
        opening = Socket()
        await fanout.join(opening)
        joining = asyncio.ensure_future(fanout.add_user(opening, 4))
        await asyncio.sleep(0.05)
        GatedLayer.gate.set()
        await asyncio.wait_for(asyncio.gather(leaving, joining), 5)
        await sync_to_async(push_to_user)(4, kind="order", message=ORDER_UPDATE)
        await until_received(fanout, 1)
        assert [m["kind"] for m in opening.got] == ["order"]
    finally:
        GatedLayer.gate.set()
        await fanout.stop()
