"""The alerts JSON API: `POST/GET /api/v1/alerts`, `DELETE /api/v1/alerts/<id>`,
`GET /api/v1/alerts/<id>/events`. A user's own alerts only. Callers are the session's
user (CSRF checked, as for any form) or a script with `Authorization: Token <key>`."""

from __future__ import annotations

import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from alerts.models import Alert, AlertEvent, ApiToken
from alerts.validation import AlertInput, AlertInputError, parse_alert
from prices.cache import price_store


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def api_user(request: HttpRequest):
    """(user, by_token) or (None, False)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Token "):
        token = (
            ApiToken.objects.select_related("user")
            .filter(digest=ApiToken.digest_of(header[6:].strip()))
            .first()
        )
        if token is None or not token.user.is_active:
            return None, False
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, True
    return (request.user, False) if request.user.is_authenticated else (None, False)


def alert_json(alert: Alert) -> dict:
    return {
        "id": alert.pk,
        "key": alert.key,
        "condition": alert.condition,
        "value": float(alert.value),
        "frequency": alert.frequency,
        "cooldown_seconds": alert.cooldown_seconds,
        "expires_at": alert.expires_at.isoformat() if alert.expires_at else None,
        "note": alert.note,
        "webhook": {"url": alert.webhook_url} if alert.webhook_url else None,  # no secret
        "status": alert.status,
        "created_at": alert.created_at.isoformat(),
    }


def event_json(event: AlertEvent) -> dict:
    alert = event.alert
    return {
        "event_id": str(event.event_id),
        "alert_id": alert.pk,
        "key": alert.key,
        "condition": alert.condition,
        "value": float(event.value),
        "previous_price": float(event.previous_price),
        "price": float(event.price),
        "triggered_at": event.triggered_at.isoformat(),
        "note": alert.note,
        "webhook": event.webhook,
        "attempts": event.attempts,
    }


def create_alert(user, data: AlertInput) -> Alert:
    quotes = price_store().read_quotes([data.key])
    price = quotes.live.get(data.key) or quotes.last.get(data.key)
    alert = Alert(
        user=user,
        key=data.key,
        condition=data.condition,
        value=data.value,
        frequency=data.frequency,
        cooldown_seconds=data.cooldown_seconds,
        expires_at=data.expires_at,
        note=data.note,
        webhook_url=data.webhook_url,
        created_price=None if price is None else round(price, 4),
    )
    alert.set_webhook_secret(data.webhook_secret)
    with transaction.atomic():
        alert.save()
    return alert


@csrf_exempt  # checked below for the session's user; a token is not a cookie
def alerts_collection(request: HttpRequest) -> JsonResponse:
    user, by_token = api_user(request)
    if user is None:
        return _error("authentication required", 401)
    if request.method == "GET":
        return JsonResponse({"alerts": [alert_json(a) for a in Alert.objects.filter(user=user)]})
    if request.method != "POST":
        return _error("use GET or POST", 405)
    if not by_token and (
        refused := CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
    ):
        return refused
    try:
        body = json.loads(request.body or b"null")
        data = parse_alert(body)
    except ValueError as exc:  # JSON errors and AlertInputError
        message = str(exc) if isinstance(exc, AlertInputError) else "the body is not JSON"
        return _error(message)
    return JsonResponse({"alert": alert_json(create_alert(user, data))}, status=201)


@csrf_exempt
def alert_item(request: HttpRequest, alert_id: int) -> JsonResponse:
    user, by_token = api_user(request)
    if user is None:
        return _error("authentication required", 401)
    alert = Alert.objects.filter(pk=alert_id, user=user).first()  # another's: not found
    if alert is None:
        return _error(f"no alert {alert_id}", 404)
    if request.method == "GET":
        return JsonResponse({"alert": alert_json(alert)})
    if request.method != "DELETE":
        return _error("use GET or DELETE", 405)
    if not by_token and (
        refused := CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
    ):
        return refused
    alert.delete()
    return JsonResponse({"deleted": alert_id})


def alert_events(request: HttpRequest, alert_id: int) -> JsonResponse:
    user, _ = api_user(request)
    if user is None:
        return _error("authentication required", 401)
    alert = Alert.objects.filter(pk=alert_id, user=user).first()
    if alert is None:
        return _error(f"no alert {alert_id}", 404)
    return JsonResponse({"events": [event_json(e) for e in alert.events.select_related("alert")]})
