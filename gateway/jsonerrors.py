"""Error answers under `/api/` are JSON `{"error": ...}`, never an HTML page: the project's
error views (`handler400`, `handler403`, `handler404`, `handler500` in marketstream/urls.py),
which Django calls for what no view answered (DEBUG off; with DEBUG on it shows its debug
page instead), and the API's exception handlers (marketstream/api.py), which answer for
the API's own views whatever DEBUG says. Other paths get Django's own error pages.

A body over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default) raises `RequestDataTooBig` where
it is read (a view, or the CSRF check of a form): 413 with the limit.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import csrf, defaults

from gateway.ratelimit import API_PREFIX

TOO_BIG_STATUS = 413  # Content Too Large


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def error_json(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def too_big() -> JsonResponse:
    """The answer to a body over the limit; called by `bad_request` and by the API's handler
    of `RequestDataTooBig`."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_json(f"the body is larger than {limit:,} bytes", TOO_BIG_STATUS)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: Django calls it for a SuspiciousOperation nothing caught (a body over the
    limit, too many fields, a Host not in ALLOWED_HOSTS). Its text is not shown: it may
    quote the request."""
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return too_big()
    return error_json("bad request", 400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler403: Django calls it for a PermissionDenied a view raised."""
    if not is_api(request):
        return defaults.permission_denied(request, exception)
    return error_json("forbidden", 403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: no URL matched, or a view raised Http404."""
    if not is_api(request):
        return defaults.page_not_found(request, exception)
    return error_json(f"no such resource: {request.path}", 404)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an exception no view handled (Django has logged it, with its traceback,
    to `django.request`)."""
    if not is_api(request):
        return defaults.server_error(request)
    return error_json("internal server error", 500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form POST to a non-API view that failed the CSRF check (the API's
    own views answer a failed check themselves: 403 JSON)."""
    if not is_api(request):
        return csrf.csrf_failure(request, reason)
    return error_json(f"CSRF check failed: {reason}", 403)
