"""WebSocket routes: `/ws/dashboard/` is the prices consumer with the user's orders and
alert firings added (`marketstream.consumers`)."""

from django.urls import path

from marketstream.consumers import DashboardConsumer

websocket_urlpatterns = [path("ws/dashboard/", DashboardConsumer.as_asgi())]
