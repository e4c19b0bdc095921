"""Features as declared parts of `/ws/dashboard/`: their declarations are checked once per
consumer class, and every task a connection's features start is owned and ended."""

from __future__ import annotations

import asyncio
import logging

import pytest
from django.core.exceptions import ImproperlyConfigured

from prices.composition import ComposedConsumer
from prices.features import ConnectionTasks, Feature


class Quotes(Feature):
    actions = frozenset({"subscribe_news"})


class MoreQuotes(Feature):
    actions = frozenset({"subscribe_news"})


class Pinger(Feature):
    actions = frozenset({"ping"})


class Weather(Feature):
    user_event_kinds = frozenset({"weather"})


class Orders(Feature):
    user_event_kinds = frozenset({"order"})


class Fills(Feature):
    actions = frozenset({"subscribe_fills"})
    user_event_kinds = frozenset({"order"})


def test_a_consumer_routes_each_action_to_its_feature_and_each_kind_to_all_that_take_it():
    class Composed(ComposedConsumer):
        features = (Orders, Quotes, Fills)

    assert Composed.routes.actions == {"subscribe_news": 1, "subscribe_fills": 2}
    assert Composed.routes.kinds == {"order": (0, 2)}


@pytest.mark.parametrize(
    ("features", "problem"),
    [
        ((Quotes, MoreQuotes), "'subscribe_news' handled twice"),
        ((Pinger,), "'ping' handled twice"),  # the prices consumer's own
        ((Weather,), "no 'weather' events exist"),
    ],
)
def test_a_composition_that_routes_ambiguously_fails_when_the_class_is_made(features, problem):
    with pytest.raises(ImproperlyConfigured, match=problem):
        type("Composed", (ComposedConsumer,), {"features": features})


async def test_cancel_ends_every_task_and_waits_for_each():
    tasks = ConnectionTasks("conn")
    ended: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append(name)

    started = [tasks.start(forever("a"), name="a"), tasks.later(60, lambda: forever("b"), name="b")]
    await asyncio.sleep(0)
    assert tasks.running == frozenset(started)
    assert [t.get_name() for t in started] == ["conn:a", "conn:b"]
    await tasks.cancel()
    assert all(t.done() for t in started)
    assert ended == ["a"]  # b was still waiting its delay
    assert tasks.running == frozenset()


async def test_a_task_that_fails_is_logged_and_leaves_the_owner(caplog):
    tasks = ConnectionTasks("conn")

    async def boom() -> None:
        raise RuntimeError("refresh failed")

    with caplog.at_level(logging.ERROR, logger="prices.features"):
        task = tasks.start(boom(), name="refresh")
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)  # the done callback
    assert "task conn:refresh failed" in caplog.text and "refresh failed" in caplog.text
    assert tasks.running == frozenset()


async def test_a_task_started_after_the_disconnect_never_runs():
    tasks = ConnectionTasks("conn")
    await tasks.cancel()  # the disconnect
    ran: list[str] = []

    async def refresh() -> None:
        ran.append("refresh")

    late = tasks.start(refresh(), name="refresh")  # an event already on its way
    await asyncio.gather(late, return_exceptions=True)
    assert late.cancelled() and ran == []
    assert tasks.running == frozenset()
