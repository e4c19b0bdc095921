"""The project's URLs. Views of the lower layers get what they need from the layers above
here (the API's health endpoint gets the stream rows in marketstream/api.py); the screener
pages ask the stream layer for their streams themselves. Error answers: JSON under
`/api/`, Django's pages elsewhere (gateway/jsonerrors.py)."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from marketstream.api import api
from prices import views as price_views

urlpatterns = [
    path("", RedirectView.as_view(url="/screeners/", permanent=False)),
    # Browsers ask for /favicon.ico whatever the page says.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("screeners/", include("screeners.urls")),
    path("chart/", include("history.urls")),
    path("api/v1/ws_subscriptions", price_views.ws_subscriptions, name="ws_subscriptions"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("orders/", include("orders.urls")),
    path("alerts/", include("alerts.urls")),
    path("portfolio/", include("portfolio.urls")),
    path("api/v1/", api.urls),  # the JSON API and its description (marketstream/api.py)
]

# Django's error views for what no view answered (with DEBUG off): JSON under /api/.
handler400 = "gateway.jsonerrors.bad_request"
handler403 = "gateway.jsonerrors.permission_denied"
handler404 = "gateway.jsonerrors.page_not_found"
handler500 = "gateway.jsonerrors.server_error"
