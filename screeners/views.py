"""Screener pages: server-rendered tables whose price cells the live-prices script updates."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.module_loading import import_string

from screeners.models import ScreenerRun, ScreenerType
from screeners.pages import screener_page

logger = logging.getLogger(__name__)


# Dependencies point marketstream -> screeners: market hours and stream start-up come in by
# the names in settings, resolved at call time.
def market_is_open() -> bool:
    return import_string(settings.MARKET_OPEN_PROVIDER)()


def next_open():
    return import_string(settings.MARKET_NEXT_OPEN_PROVIDER)()


def ensure_stream(*, screener_type: str) -> str:
    return import_string(settings.SCREENER_STREAM_STARTER)(screener_type=screener_type)


def index(request: HttpRequest) -> HttpResponse:
    runs = {t: ScreenerRun.objects.filter(screener_type=t).first() for t in ScreenerType.values}
    return render(
        request,
        "screeners/index.html",
        {
            "screeners": [(t, ScreenerType(t).label, runs[t]) for t in ScreenerType.values],
            "market_open": market_is_open(),
        },
    )


def screener(request: HttpRequest, screener_type: str) -> HttpResponse:
    if screener_type not in ScreenerType.values:
        raise Http404(f"no screener {screener_type!r}")
    view = screener_page(
        screener_type=screener_type,
        sort=request.GET.get("sort"),
        page=request.GET.get("page"),
        per_page=request.GET.get("per_page"),
    )
    is_open = market_is_open()
    if is_open and view.run is not None:
        ensure_stream(screener_type=screener_type)  # enqueue only; never waits for the feed
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
