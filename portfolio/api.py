"""`GET /api/v1/portfolio`: the caller's holdings and positions valued on the cached
prices, money as exact decimal strings (a django-ninja router, mounted behind session or
token authentication: `request.auth` is the user)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from ninja import Field, Router, Schema

from portfolio.views import as_json, portfolio_of
from prices.schemas import Error

router = Router(tags=["portfolio"])
MONEY = "a decimal string, exact; null when no price is known"


class HoldingOut(Schema):
    kind: str = Field(description="holding or position")
    key: str
    symbol: str
    quantity: int
    avg_cost: str | None = Field(description=MONEY)
    ltp: str | None = Field(description=MONEY)
    value: str | None = Field(description=MONEY)
    day_pnl: str | None = Field(description=MONEY)
    pnl: str | None = Field(description=MONEY)


class TotalsOut(Schema):
    value: str
    day_pnl: str
    pnl: str


class PortfolioOut(Schema):
    holdings: list[HoldingOut]
    totals: TotalsOut


@router.get(
    "/portfolio",
    response={200: PortfolioOut, 401: Error},
    url_name="portfolio_api",
    summary="Portfolio valuation",
)
def portfolio_api(request: HttpRequest) -> JsonResponse:
    return JsonResponse(as_json(portfolio_of(request.auth.pk)))
