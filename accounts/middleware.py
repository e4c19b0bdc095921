"""`MARKETSTREAM_LOGIN_REQUIRED=true`: every page but the login page, the admin (its own
login) and the health check needs a signed-in user; anonymous API calls get 401 JSON."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, JsonResponse

OPEN_PREFIXES = ("/accounts/login/", "/admin/", "/static/", "/api/v1/health/")


class LoginRequiredMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if (
            settings.MARKETSTREAM_LOGIN_REQUIRED
            and not request.user.is_authenticated
            and not request.path.startswith(OPEN_PREFIXES)
        ):
            if request.path.startswith("/api/"):
                return JsonResponse({"error": "authentication required"}, status=401)
            return redirect_to_login(request.get_full_path())
        return self.get_response(request)
