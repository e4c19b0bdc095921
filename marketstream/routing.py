"""WebSocket routes: `/ws/dashboard/` is the prices consumer composed with the orders,
alerts and portfolio features (`marketstream.consumers`)."""

from django.urls import path

from marketstream.consumers import DashboardConsumer

websocket_urlpatterns = [path("ws/dashboard/", DashboardConsumer.as_asgi())]
