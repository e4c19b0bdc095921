"""`GET /api/v1/orders`: the caller's own orders of today (a django-ninja router; the
project's API mounts it behind session or token authentication, so `request.auth` is the
user)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from ninja import Field, Router, Schema

from orders.push import order_json
from orders.views import own_orders
from prices.schemas import Error

router = Router(tags=["orders"])


class OrderOut(Schema):
    """An ORDER: the client id, never a token."""

    order_no: str
    exchange_order_no: str | None
    client_id: str
    key: str | None = Field(description="SEGMENT:SECURITY_ID")
    symbol: str
    side: str | None = Field(description="BUY or SELL")
    order_type: str
    product: str | None
    quantity: int
    traded_qty: int
    avg_traded_price: float | None
    price: float | None
    trigger_price: float | None
    status: str = Field(description="TRANSIT, PENDING, PART_TRADED, TRADED, REJECTED, ...")
    reason: str
    updated_at: str | None = Field(json_schema_extra={"format": "date-time"})


class OrdersOut(Schema):
    orders: list[OrderOut]
    count: int


@router.get(
    "/orders", response={200: OrdersOut, 401: Error}, url_name="orders_api", summary="Orders"
)
def orders_api(request: HttpRequest) -> JsonResponse:
    orders = [order_json(o) for o in own_orders(request.auth)]
    return JsonResponse({"orders": orders, "count": len(orders)})
