"""Fetching a broker account's holdings and positions (DhanHQ REST `GET /v2/holdings` and
`GET /v2/positions`, through the official SDK) into `PortfolioLine`s: when an order of the
account trades (the order connection queues `refresh_task`) and every five minutes (beat;
embedded mode: its supervision thread)."""

from __future__ import annotations

import logging

from celery import shared_task
from dhanhq import DhanContext, dhanhq
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.crypto import TokenUnreadable
from accounts.models import BrokerAccount
from portfolio.models import PortfolioLine
from portfolio.valuation import lines_from

logger = logging.getLogger(__name__)

REFRESH_TIMEOUT_SECONDS = 5


class PortfolioUnavailable(Exception):
    pass


def _rows(response: dict, what: str) -> list[dict]:
    if response.get("status") != "success" or not isinstance(response.get("data"), list):
        raise PortfolioUnavailable(f"{what} unavailable: {str(response.get('remarks'))[:200]}")
    return [row for row in response["data"] if isinstance(row, dict)]


def refresh_account(account: BrokerAccount) -> int:
    """Replace the account's lines with DhanHQ's; returns how many."""
    try:
        context = DhanContext(account.client_id, account.token)
    except TokenUnreadable as exc:
        raise PortfolioUnavailable(str(exc)) from None
    http = context.get_dhan_http()
    http.base_url, http.timeout = settings.DHANHQ_API_URL, REFRESH_TIMEOUT_SECONDS
    sdk = dhanhq(context)
    holdings = _rows(sdk.get_holdings(), "holdings")
    positions = [
        r
        for r in _rows(sdk.get_positions(), "positions")
        if r.get("netQty") or r.get("realizedProfit")
    ]
    now = timezone.now()
    lines = lines_from(holdings, positions, segment_of=lambda exchange: f"{exchange}_EQ")
    with transaction.atomic():
        PortfolioLine.objects.filter(account=account).delete()
        PortfolioLine.objects.bulk_create(
            PortfolioLine(
                account=account,
                kind=line.kind,
                key=line.key,
                symbol=line.symbol,
                quantity=line.quantity,
                avg_cost=line.avg_cost,
                realized=line.realized,
                fetched_at=now,
            )
            for line in lines
        )
    return len(lines)


@shared_task(name="portfolio.refresh", ignore_result=True)
def refresh_task(account_id: int | None = None) -> None:
    """One account's portfolio (after its order traded), or every active account's."""
    accounts = BrokerAccount.objects.filter(status=BrokerAccount.Status.ACTIVE)
    if account_id is not None:
        accounts = accounts.filter(pk=account_id)
    for account in accounts:
        try:
            refresh_account(account)
        except PortfolioUnavailable as exc:
            logger.warning("portfolio of %s not refreshed: %s", account.client_id, exc)
