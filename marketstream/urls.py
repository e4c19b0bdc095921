from django.contrib import admin
from django.urls import path

from prices import views as price_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/current_prices", price_views.current_prices, name="current_prices"),
    path("api/v1/health/market_stream", price_views.market_stream_health,
         name="market_stream_health"),
]
