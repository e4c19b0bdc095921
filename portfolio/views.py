"""The signed-in user's portfolio, valued on the cached prices: `/portfolio/` (live) and
what `GET /api/v1/portfolio` (portfolio/api.py) answers."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portfolio.models import PortfolioLine
from portfolio.valuation import Line, value
from prices.cache import PriceStore, price_store


def user_lines(user_id: int) -> list[Line]:
    rows = PortfolioLine.objects.filter(account__user_id=user_id)
    return [Line(r.kind, r.key, r.symbol, r.quantity, r.avg_cost, r.realized) for r in rows]


def prices_of(keys: list[str], store: PriceStore | None = None) -> tuple[dict, dict]:
    quotes = (store or price_store()).read_quotes(keys)
    ltp = {k: Decimal(repr(p)) for k, p in {**quotes.last, **quotes.live}.items()}
    closes = {k: Decimal(repr(p)) for k, p in quotes.prev_close.items()}
    return ltp, closes


def portfolio_of(user_id: int) -> dict:
    lines = user_lines(user_id)
    ltp, closes = prices_of(sorted({line.key for line in lines}))
    return value(lines, ltp, closes)


def as_json(portfolio: dict) -> dict:
    """Money as exact decimal strings (a float would round it)."""

    def text(v):
        return None if v is None else (str(v) if isinstance(v, Decimal) else v)

    return {
        "holdings": [{k: text(v) for k, v in row.items()} for row in portfolio["holdings"]],
        "totals": {k: text(v) for k, v in portfolio["totals"].items()},
    }


@login_required
@require_GET
def portfolio_page(request: HttpRequest) -> HttpResponse:
    return render(request, "portfolio/portfolio.html", {"portfolio": portfolio_of(request.user.pk)})
