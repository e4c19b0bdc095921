"""Plain Django views of the price layer: this process's WebSocket clients, for operators
and tests (the JSON API proper is prices/endpoints.py)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def ws_subscriptions(request: HttpRequest) -> JsonResponse:
    """This process's WebSocket clients and their keys: for operators (staff) and, with
    DEBUG, for tests. Another web process answers for its own clients only."""
    if not (settings.DEBUG or (request.user.is_authenticated and request.user.is_staff)):
        raise Http404
    live = getattr(request, "scope", {}).get("live")  # put there by LivePricesMiddleware
    consumers = live.fanout.consumers() if live is not None else []
    sets = sorted(sorted(c.keys) for c in consumers)
    depth = sorted(sorted(keys) for c in consumers if (keys := c.subscriptions["depth"].keys))
    watched = sorted(live.depth_watchers.keys) if live is not None else []
    return JsonResponse(
        {"connections": len(sets), "key_sets": sets, "depth_key_sets": depth, "depth": watched}
    )
