"""The naive fan-out, for `bench_broadcast` only: the same consumer, but each one its own
member of `dashboard_updates` (Channels' usual pattern), so every window goes through a
queue, a task and the full `dispatch` per client."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketstream.settings")
django_asgi_app = get_asgi_application()

from channels.consumer import AsyncConsumer  # noqa: E402
from channels.layers import DEFAULT_CHANNEL_LAYER  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 - after Django setup
from django.urls import path  # noqa: E402

from prices.broadcast import GROUP  # noqa: E402
from prices.consumers import PricesConsumer  # noqa: E402
from prices.live import LivePrices, LivePricesMiddleware  # noqa: E402


class MemberPerConsumer(PricesConsumer):
    channel_layer_alias = DEFAULT_CHANNEL_LAYER  # a channel of its own, as Channels does
    # Channels' own loop and dispatch (a receive task and an asyncio.wait per message, old
    # database connections closed per message), where ours have no channel to listen on.
    __call__ = AsyncConsumer.__call__
    dispatch = AsyncConsumer.dispatch

    async def join_group(self) -> None:
        await self.channel_layer.group_add(GROUP, self.channel_name)

    async def leave_group(self) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)


application = LivePricesMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": URLRouter([path("ws/dashboard/", MemberPerConsumer.as_asgi())]),
        }
    ),
    LivePrices(),
)
