"""Rate limits of the JSON API (`/api/`): per client IP and per user, counted by
django-ratelimit in the Django cache (Redis in the full stack, so every web process counts
together; this process's memory in embedded mode, which is one process).

Over a limit: 429 `{"error": ...}` with `Retry-After` (seconds to the end of the fixed
window). The defaults leave a page polling every 1.5 s (two or three requests per poll)
far below them: API_RATE_LIMIT_PER_USER (600/m: several tabs of one trader) and
API_RATE_LIMIT_PER_IP (1200/m: an office behind one NAT address). Set either to an empty
value to turn it off. The client's address, behind a proxy, is the header
RATELIMIT_IP_META_KEY names: here for HTTP requests, in `scope_client_address` for the
WebSocket connection cap. A cache that cannot count (Redis down) lets requests through: the
API keeps answering from what it can reach.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django_ratelimit.core import get_usage

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


def _user_key(group: str, request: HttpRequest) -> str | None:
    """Who the request is: a signed-in user, or a script's API token (hashed: never kept)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Token "):
        return "token:" + hashlib.sha256(header[6:].strip().encode()).hexdigest()[:32]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _ip_key(group: str, request: HttpRequest) -> str:
    meta = settings.RATELIMIT_IP_META_KEY
    value = request.META.get(meta or "REMOTE_ADDR", "") or request.META.get("REMOTE_ADDR", "")
    return "ip:" + value.split(",")[0].strip()  # a proxy's X-Forwarded-For: the client's


def scope_client_address(scope: dict) -> str:
    """An ASGI scope's client address as `_ip_key` finds a request's: the header that
    RATELIMIT_IP_META_KEY names (its first address), else the socket's peer. Called by the
    WebSocket connection cap (gateway/wscap.py) for every handshake."""
    meta = settings.RATELIMIT_IP_META_KEY
    if meta and meta.startswith("HTTP_"):  # HTTP_X_FORWARDED_FOR is header x-forwarded-for
        wanted = meta[5:].lower().replace("_", "-").encode("latin1")
        for name, value in scope.get("headers", ()):
            if name == wanted and (first := value.split(b",")[0].strip()):
                return first.decode("latin1")
    client = scope.get("client")
    return str(client[0]) if client else ""


def _limited(request: HttpRequest, *, group: str, key, rate: str) -> int | None:
    """Seconds to wait when this request is over `rate` for its key, else None."""
    if not rate or (callable(key) and key(group, request) is None):
        return None
    usage = get_usage(request, group=group, key=key, rate=rate, increment=True)
    if usage is None or not usage["should_limit"] or usage["time_left"] < 0:
        return None  # time_left -1: the cache could not count; let it through
    return max(1, usage["time_left"])


class ApiRateLimitMiddleware:
    """After authentication (it counts per user): every `/api/` request counts once against
    its IP and once against its user or token."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if request.path.startswith(API_PREFIX):
            refusal = self._check(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> JsonResponse | None:
        limits = (
            ("api-ip", _ip_key, settings.API_RATE_LIMIT_PER_IP),
            ("api-user", _user_key, settings.API_RATE_LIMIT_PER_USER),
        )
        for group, key, rate in limits:
            try:
                wait = _limited(request, group=group, key=key, rate=rate)
            except Exception as exc:  # a cache outage must not take the API down
                logger.warning("rate limit not checked (%s): request let through", exc)
                return None
            if wait is not None:
                response = JsonResponse(
                    {"error": f"too many requests ({rate} per client): retry in {wait} s"},
                    status=429,
                )
                response["Retry-After"] = str(wait)
                return response
        return None
