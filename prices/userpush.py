"""Every per-user event to its user's browsers, one path for every kind: `push_to_user` is
the one choke point (as the broadcaster's `group_send` to `dashboard_updates` is for
prices). Called by the feature apps on a thread: orders (`orders.push`), alerts
(`alerts.notify`), screens (coming).

One channel-layer group per user (`user_<id>`), which each web process's fan-out
(`prices.fanout`) joins while one of its sockets of that user is open, and hands each
event to that user's sockets only; one envelope for every kind, carrying the client
message (the contract's `order_update`, `alert_triggered`, `portfolio_update`,
`screen_entered`) as JSON text built once. Each of a user's sockets gets each event
exactly once, whatever the number of web processes; on a socket the consumer hands it to
the features that take its kind (`prices.features`).
"""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

# The envelope: {"type": USER_EVENT_TYPE, "user_id": N, "kind": <one of KINDS>,
# "text": <the client message, JSON>}. Handled by the prices consumer's `user_event`.
USER_EVENT_TYPE = "user.event"
KINDS = frozenset({"order", "alert", "portfolio", "screen"})


class UnknownKindError(ValueError):
    """A per-user event of a kind no feature could declare (a typo, caught at the sender)."""


def user_group(user_id: int) -> str:
    """The channel-layer group of one user's sockets' web processes."""
    return f"user_{user_id}"


def envelope(user_id: int, *, kind: str, message: dict) -> dict:
    """The channel-layer message for one event (`push_to_user` sends it)."""
    if kind not in KINDS:
        raise UnknownKindError(f"unknown per-user event kind {kind!r}: one of {sorted(KINDS)}")
    text = json.dumps(message, separators=(",", ":"))
    return {"type": USER_EVENT_TYPE, "user_id": user_id, "kind": kind, "text": text}


def push_to_user(user_id: int, *, kind: str, message: dict) -> None:
    """THE way to send an event to a user's browsers: `message` (a client message of the
    contract) to every socket of `user_id`, once each. Called on a thread (an order
    connection's writer, the alert evaluator): it blocks for the channel layer's send.
    Raises `UnknownKindError` for a kind not in KINDS, and what the layer raises."""
    event = envelope(user_id, kind=kind, message=message)
    async_to_sync(get_channel_layer().group_send)(user_group(user_id), event)
