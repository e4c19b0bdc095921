"""The alerts JSON API: `POST/GET /api/v1/alerts`, `GET/DELETE /api/v1/alerts/<id>`,
`GET /api/v1/alerts/<id>/events`: a django-ninja router, mounted by the project's API
behind session (CSRF checked for writes) or `Authorization: Token <key>` authentication,
so `request.auth` is the user. A user's own alerts only: another's is "not found". An
alert the evaluator could not judge or fire shows `"status": "error"` and the reason."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from ninja import Field, Router, Schema

from alerts.models import CONDITIONS, Alert, AlertEvent
from alerts.validation import AlertInput, AlertInputError, parse_alert
from prices.cache import price_store
from prices.clientjson import ClientJsonError, loads_client_json
from prices.schemas import Error

router = Router(tags=["alerts"])


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


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
        "error": alert.error_reason or None,
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


ISO = {"format": "date-time"}


class WebhookOut(Schema):
    url: str


class AlertOut(Schema):
    id: int
    key: str
    condition: str = Field(description=" | ".join(CONDITIONS))
    value: float
    frequency: str = Field(description="once or every_time")
    cooldown_seconds: int
    expires_at: str | None = Field(json_schema_extra=ISO)
    note: str
    webhook: WebhookOut | None = Field(description="its secret is never shown")
    status: str = Field(description="active, triggered, expired or error")
    error: str | None = Field(
        description="status error: why the alert could not be judged or fired; it is no "
        "longer judged (delete it and make it again)"
    )
    created_at: str = Field(json_schema_extra=ISO)


class AlertEnvelope(Schema):
    alert: AlertOut


class AlertList(Schema):
    alerts: list[AlertOut]


class AttemptOut(Schema):
    at: str = Field(json_schema_extra=ISO)
    outcome: str = Field(description="delivered, refused, unreachable, blocked or not queued")
    status: int | None = Field(None, description="the receiver's HTTP status, when it answered")


class EventOut(Schema):
    event_id: str
    alert_id: int
    key: str
    condition: str
    value: float
    previous_price: float
    price: float
    triggered_at: str = Field(json_schema_extra=ISO)
    note: str
    webhook: str = Field(description="none, pending, delivered or failed")
    attempts: list[AttemptOut] = Field(description="one per webhook try")


class EventList(Schema):
    events: list[EventOut]


class Deleted(Schema):
    deleted: int


# The body is parsed by alerts/validation.py (its messages are the API's 400s); this is
# its description for OpenAPI.
ALERT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["key", "condition", "value"],
                "properties": {
                    "key": {"type": "string", "example": "NSE_EQ:2885"},
                    "condition": {"type": "string", "enum": list(CONDITIONS)},
                    "value": {"type": "number"},
                    "frequency": {"type": "string", "enum": ["once", "every_time"]},
                    "cooldown_seconds": {"type": "integer", "default": 60},
                    "expires_at": {"type": ["string", "null"], "format": "date-time"},
                    "note": {"type": "string"},
                    "webhook": {
                        "type": ["object", "null"],
                        "properties": {"url": {"type": "string"}, "secret": {"type": "string"}},
                    },
                },
            }
        }
    },
}


@router.get("/alerts", response={200: AlertList, 401: Error}, url_name="alerts_api")
def list_alerts(request: HttpRequest) -> JsonResponse:
    alerts = Alert.objects.filter(user=request.auth)
    return JsonResponse({"alerts": [alert_json(a) for a in alerts]})


@router.post(
    "/alerts",
    response={201: AlertEnvelope, 400: Error, 401: Error, 403: Error},
    openapi_extra={"requestBody": ALERT_BODY},
)
def add_alert(request: HttpRequest) -> JsonResponse:
    try:
        body = loads_client_json(request.body or b"null")
    except ClientJsonError as exc:  # not JSON, or nested too deep to parse safely
        return _error(f"the body is {exc}")
    try:
        data = parse_alert(body)
    except AlertInputError as exc:
        return _error(str(exc))
    return JsonResponse({"alert": alert_json(create_alert(request.auth, data))}, status=201)


def _own(request: HttpRequest, alert_id: int) -> Alert | None:
    return Alert.objects.filter(pk=alert_id, user=request.auth).first()


@router.get(
    "/alerts/{alert_id}",
    response={200: AlertEnvelope, 401: Error, 404: Error},
    url_name="alert_api",
)
def get_alert(request: HttpRequest, alert_id: int) -> JsonResponse:
    alert = _own(request, alert_id)
    if alert is None:
        return _error(f"no alert {alert_id}", 404)
    return JsonResponse({"alert": alert_json(alert)})


@router.delete("/alerts/{alert_id}", response={200: Deleted, 401: Error, 403: Error, 404: Error})
def delete_alert(request: HttpRequest, alert_id: int) -> JsonResponse:
    alert = _own(request, alert_id)
    if alert is None:
        return _error(f"no alert {alert_id}", 404)
    alert.delete()
    return JsonResponse({"deleted": alert_id})


@router.get(
    "/alerts/{alert_id}/events",
    response={200: EventList, 401: Error, 404: Error},
    url_name="alert_events_api",
)
def alert_events(request: HttpRequest, alert_id: int) -> JsonResponse:
    alert = _own(request, alert_id)
    if alert is None:
        return _error(f"no alert {alert_id}", 404)
    return JsonResponse({"events": [event_json(e) for e in alert.events.select_related("alert")]})
