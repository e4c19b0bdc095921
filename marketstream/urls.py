from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from prices import views as price_views

urlpatterns = [
    path("", RedirectView.as_view(url="/screeners/", permanent=False)),
    path("screeners/", include("screeners.urls")),
    path("api/v1/ws_subscriptions", price_views.ws_subscriptions, name="ws_subscriptions"),
    path("admin/", admin.site.urls),
    path("api/v1/current_prices", price_views.current_prices, name="current_prices"),
    path(
        "api/v1/health/market_stream", price_views.market_stream_health, name="market_stream_health"
    ),
]
