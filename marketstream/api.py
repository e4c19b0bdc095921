"""The JSON API, `/api/v1/`: the apps' django-ninja routers under one `NinjaAPI`, which
describes them as OpenAPI 3 at `/api/v1/openapi.json` (from the operations' signatures and
response schemas: nothing is written by hand but the alert body's description).

Every error is `{"error": "..."}`: ninja's own `{"detail": ...}` answers are rewritten
here, a body over DATA_UPLOAD_MAX_MEMORY_SIZE is 413 and one that is not JSON 400 whatever
DEBUG says, and what no handler here answers the project's error views make JSON
(gateway/jsonerrors.py). The user's endpoints (orders, portfolio, alerts, screens) take the
session, with CSRF checked on writes, or `Authorization: Token <key>`
(`create_api_token`). Rate limits are applied before any of this, by
gateway/ratelimit.py.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import APIKeyHeader, django_auth

from accounts.models import user_for_token
from alerts.api import router as alerts_router
from gateway import jsonerrors
from history.api import router as history_router
from orders.api import router as orders_router
from portfolio.api import router as portfolio_router
from prices.clientjson import ClientJsonError, loads_client_json
from prices.endpoints import router as prices_router
from prices.health import market_health
from prices.schemas import Health
from screeners.api import router as screens_router
from streams.health import stream_rows


class TokenAuth(APIKeyHeader):
    """`Authorization: Token <key>`: a script's key (its SHA-256 is what is stored)."""

    param_name = "Authorization"

    def authenticate(self, request: HttpRequest, key: str | None):
        if not key or not key.startswith("Token "):
            return None
        return user_for_token(key[6:].strip())


USER_AUTH = [TokenAuth(), django_auth]
ERROR_RESPONSE = {
    "description": "Bad Request",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
RATE_LIMITED = {
    "description": "Too Many Requests (gateway/ratelimit.py)",
    "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


class ClientJsonParser(Parser):
    """Request bodies of operations that declare one, parsed by the one client-JSON parser
    (`prices.clientjson`: nothing but ClientJsonError, deep nesting included); ninja
    answers its failure 400."""

    def parse_body(self, request: HttpRequest):
        return loads_client_json(request.body)


class MarketStreamAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        """What is answered in front of the operations, added to each: 429 (the rate limit),
        400 where a parameter or body can be invalid (`_invalid` below), and 401 when the
        deployment requires a login for everything."""
        schema = super().get_openapi_schema(*args, **kwargs)
        unauthenticated = dict(schema["paths"].get("/api/v1/orders", {}).get("get", {}))
        for operations in schema["paths"].values():
            for operation in operations.values():
                # ninja keys the declared answers by int: as strings, ours cannot repeat one
                # (a repeated "400" made Swagger UI refuse the description).
                operation["responses"] = {str(k): v for k, v in operation["responses"].items()}
                operation["responses"].setdefault("429", RATE_LIMITED)
                if operation.get("parameters") or operation.get("requestBody"):
                    operation["responses"].setdefault("400", ERROR_RESPONSE)
                if settings.MARKETSTREAM_LOGIN_REQUIRED and unauthenticated:
                    operation["responses"].setdefault("401", unauthenticated["responses"]["401"])
        return schema


api = MarketStreamAPI(
    title="MarketStream API",
    version="1",
    description="Live Indian-market prices, quotes and depth from DhanHQ; price history and "
    "the forming bar (`/bars`); a user's orders, alerts and portfolio. Errors are "
    '`{"error": "..."}`; rate-limited requests get 429 with `Retry-After`. Live candles come '
    'over the WebSocket `/ws/dashboard/`: `{"action": "subscribe", "mode": "candles", "tf": '
    '"5m", "keys": [...]}` answers `candle_snapshot`, then a `candle_update` per window '
    "(docs/contract.md).",
    urls_namespace="api",
    # Swagger UI from ninja's own static files ("ninja" is an installed app), not a CDN:
    # it runs under the site's CSP.
    docs=Swagger(),
    docs_url="/docs",
    parser=ClientJsonParser(),
)
api.add_router("", prices_router)
api.add_router("", history_router)
api.add_router("", orders_router, auth=USER_AUTH)
api.add_router("", portfolio_router, auth=USER_AUTH)
api.add_router("", alerts_router, auth=USER_AUTH)
api.add_router("", screens_router, auth=USER_AUTH)


@api.get(
    "/health/market_stream",
    response={200: Health},
    url_name="market_stream_health",
    tags=["health"],
    summary="Feed health",
)
def market_stream_health(request: HttpRequest) -> JsonResponse:
    """The feed's health, the streams as the stream layer reports them; always JSON, Redis
    down included."""
    return JsonResponse(market_health(rows=stream_rows).as_json())


def _error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return JsonResponse({"error": message}, status=status)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, "authentication required", 401)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, str(exc), exc.status_code)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """A parameter of the wrong type (an alert id that is not a number, say)."""
    where = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
        for e in exc.errors
    )
    return _error(request, f"invalid request: {where}", 400)


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE, raised where an operation read it."""
    return jsonerrors.too_big()


@api.exception_handler(ClientJsonError)
def _bad_json(request: HttpRequest, exc: ClientJsonError) -> HttpResponse:
    """A body that is not JSON, or nested too deep, where an operation let it through."""
    return _error(request, str(exc), 400)
