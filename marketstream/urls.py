"""The project's URLs. Views of the lower layers get what they need from the layers above
here, as view arguments: the screener pages a stream starter, health the stream rows."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from alerts import api as alert_api
from marketstream.connections.control import ensure_stream
from marketstream.connections.health import stream_rows
from orders import views as order_views
from portfolio import views as portfolio_views
from prices import views as price_views

urlpatterns = [
    path("", RedirectView.as_view(url="/screeners/", permanent=False)),
    path("screeners/", include("screeners.urls"), {"ensure_stream": ensure_stream}),
    path("api/v1/ws_subscriptions", price_views.ws_subscriptions, name="ws_subscriptions"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("orders/", include("orders.urls")),
    path("alerts/", include("alerts.urls")),
    path("portfolio/", include("portfolio.urls")),
    path("api/v1/portfolio", portfolio_views.portfolio_api, name="portfolio_api"),
    path("api/v1/alerts", alert_api.alerts_collection, name="alerts_api"),
    path("api/v1/alerts/<int:alert_id>", alert_api.alert_item, name="alert_api"),
    path("api/v1/alerts/<int:alert_id>/events", alert_api.alert_events, name="alert_events_api"),
    path("api/v1/orders", order_views.orders_api, name="orders_api"),
    path("api/v1/current_prices", price_views.current_prices, name="current_prices"),
    path("api/v1/quotes", price_views.quotes, name="quotes"),
    path("api/v1/depth", price_views.depth, name="depth"),
    path(
        "api/v1/health/market_stream",
        price_views.market_stream_health,
        {"rows": stream_rows},
        name="market_stream_health",
    ),
]
