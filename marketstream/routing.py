"""WebSocket routes: `/ws/dashboard/` is the prices consumer with order updates added
(`orders.consumers`)."""

from django.urls import path

from orders.consumers import DashboardConsumer

websocket_urlpatterns = [path("ws/dashboard/", DashboardConsumer.as_asgi())]
