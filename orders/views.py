"""The signed-in user's orders: `/orders/` (today's, live) and `GET /api/v1/orders`
(401 JSON for anonymous clients). Only the user's own broker accounts' orders, ever."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from orders.models import Order
from orders.push import order_json
from prices.calendar import IST


def own_orders(user, *, today_only: bool = True):
    rows = Order.objects.filter(account__user=user).select_related("account")
    if today_only:
        rows = rows.filter(trade_date=datetime.now(IST).date())
    return rows


@require_GET
def orders_api(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return JsonResponse({"error": "authentication required"}, status=401)
    orders = [order_json(o) for o in own_orders(request.user)]
    return JsonResponse({"orders": orders, "count": len(orders)})


@login_required
@require_GET
def orders_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "orders/orders.html",
        {
            "orders": own_orders(request.user),
            "accounts": request.user.broker_accounts.all(),
        },
    )
