"""Screener pages: server-rendered tables whose price cells the live-prices script updates."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from prices.calendar import market_is_open, next_open
from prices.quotes import INDEX_STRIP_STREAM
from prices.redisconn import fail_fast
from screeners.models import ScreenerRun, ScreenerType
from screeners.pages import screener_page
from streams.control import ensure_stream as stream_layer_ensure

logger = logging.getLogger(__name__)


# Called as `ensure_stream(screener_type=...)` when a page opens while the market is open:
# the stream layer's own (`streams.control.ensure_stream`: enqueue only, never raises); a
# URLconf may pass another as a view argument (tests record the calls).
StreamStarter = Callable[..., str]


def index(
    request: HttpRequest, *, ensure_stream: StreamStarter = stream_layer_ensure
) -> HttpResponse:
    """The list of screeners."""
    runs = {t: ScreenerRun.objects.filter(screener_type=t).first() for t in ScreenerType.values}
    if market_is_open():
        with fail_fast():  # a hung Redis costs the page one timeout at most
            ensure_stream(screener_type=INDEX_STRIP_STREAM)  # the top bar's index strip
    return render(
        request,
        "screeners/index.html",
        {
            "screeners": [(t, ScreenerType(t).label, runs[t]) for t in ScreenerType.values],
            "market_open": market_is_open(),
        },
    )


def screener(
    request: HttpRequest, screener_type: str, *, ensure_stream: StreamStarter = stream_layer_ensure
) -> HttpResponse:
    """One screener's latest run, sorted and paginated; asks for its stream while open."""
    if screener_type not in ScreenerType.values:
        raise Http404(f"no screener {screener_type!r}")
    view = screener_page(
        screener_type=screener_type,
        sort=request.GET.get("sort"),
        page=request.GET.get("page"),
        per_page=request.GET.get("per_page"),
    )
    is_open = market_is_open()
    # Starting a stream needs Redis (its start marker and the broker live there): with the
    # price cache unreachable the page does not wait on it; beat starts wanted streams.
    if is_open and view.prices_available:
        with fail_fast():
            if view.run is not None:
                ensure_stream(screener_type=screener_type)  # enqueue only; never waits
            ensure_stream(screener_type=INDEX_STRIP_STREAM)  # the top bar's index strip
    return render(
        request,
        "screeners/screener.html",
        {
            "view": view,
            "screener_type": screener_type,
            "title": ScreenerType(screener_type).label,
            "market_open": is_open,
            "next_open": None if is_open else next_open(),
            "poll_interval_ms": 1500,
            "debug": settings.DEBUG,
        },
    )
