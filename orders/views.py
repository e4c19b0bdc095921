"""The signed-in user's orders page, `/orders/` (today's, live; the API is orders/api.py).
Only the user's own broker accounts' orders, ever."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from orders.models import Order
from prices.calendar import IST


def own_orders(user, *, today_only: bool = True):
    rows = Order.objects.filter(account__user=user).select_related("account")
    if today_only:
        rows = rows.filter(trade_date=datetime.now(IST).date())
    return rows


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
