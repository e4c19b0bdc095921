"""Screener pages: the list of screens a user may see, and a screen's results, a
server-rendered table whose price cells the live-prices script updates. Shared screens are
public; a user's own screens are theirs only (another's is "not found"). The editor's
pages are `screeners.editor`'s."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from prices.calendar import market_is_open, next_open
from prices.quotes import INDEX_STRIP_STREAM
from prices.redisconn import fail_fast
from screeners.models import Screen, latest_run, visible_to
from screeners.pages import screener_page
from screeners.runs import request_run
from screeners.shipped import PRESETS
from streams.control import ensure_stream as stream_layer_ensure

logger = logging.getLogger(__name__)


# Called as `ensure_stream(screener_type=...)` when a page opens while the market is open:
# the stream layer's own (`streams.control.ensure_stream`: enqueue only, never raises); a
# URLconf may pass another as a view argument (tests record the calls).
StreamStarter = Callable[..., str]
RESULTS_POLL_SECONDS = 30  # a results page looks for a newer run this often


def visible_screens(request: HttpRequest) -> QuerySet[Screen]:
    """The shared screens and, signed in, the user's own."""
    return visible_to(request.user.pk if request.user.is_authenticated else None)


def screen_for(request: HttpRequest, slug: str) -> Screen:
    screen = visible_screens(request).filter(slug=slug).select_related("owner").first()
    if screen is None:
        raise Http404(f"no screen {slug!r}")
    return screen


def may_edit(user, screen: Screen) -> bool:
    """Owners edit their screens; staff edit the shared ones."""
    if screen.owner_id is None:
        return bool(user.is_authenticated and user.is_staff)
    return screen.owner_id == user.pk


def index(
    request: HttpRequest, *, ensure_stream: StreamStarter = stream_layer_ensure
) -> HttpResponse:
    """The screens the user may see, shared first, each with its latest run."""
    screens = list(visible_screens(request).order_by("-owner", "name"))
    if market_is_open():
        with fail_fast():  # a hung Redis costs the page one timeout at most
            ensure_stream(screener_type=INDEX_STRIP_STREAM)  # the top bar's index strip
    return render(
        request,
        "screeners/index.html",
        {
            "screens": [(s, latest_run(s)) for s in screens],
            "presets": list(PRESETS.items()),
            "market_open": market_is_open(),
        },
    )


def screener(
    request: HttpRequest, screener_type: str, *, ensure_stream: StreamStarter = stream_layer_ensure
) -> HttpResponse:
    """One screen's latest run, sorted and paginated; asks for its stream while open."""
    screen = screen_for(request, screener_type)
    view = screener_page(
        screen=screen,
        sort=request.GET.get("sort"),
        page=request.GET.get("page"),
        per_page=request.GET.get("per_page"),
    )
    is_open = market_is_open()
    # Starting a stream needs Redis (its start marker and the broker live there): with the
    # price cache unreachable the page does not wait on it; beat starts wanted streams.
    if is_open and view.prices_available:
        with fail_fast():
            if view.rows:
                ensure_stream(screener_type=screen.slug)  # enqueue only; never waits
            ensure_stream(screener_type=INDEX_STRIP_STREAM)  # the top bar's index strip
    return render(
        request,
        "screeners/screener.html",
        {
            "view": view,
            "screen": screen,
            "screener_type": screen.slug,
            "title": screen.name,
            "may_edit": may_edit(request.user, screen),
            "market_open": is_open,
            "next_open": None if is_open else next_open(),
            "poll_interval_ms": 1500,
            "results_poll_ms": RESULTS_POLL_SECONDS * 1000,
            "debug": settings.DEBUG,
        },
    )


@login_required
@require_POST
def run(request: HttpRequest, screener_type: str) -> HttpResponse:
    """The results page's "Run now": a run is queued; the page shows it when done."""
    screen = screen_for(request, screener_type)
    if not may_edit(request.user, screen):
        raise Http404(f"no screen {screener_type!r} of yours")
    request_run(screen)
    return redirect("screeners:screener", screener_type=screen.slug)


def latest(request: HttpRequest, screener_type: str) -> JsonResponse:
    """`{"run_id"}` of the screen's latest finished run: its results page asks every
    RESULTS_POLL_SECONDS and reloads when a new run has landed, so the table (and its
    socket subscription) follows the new rows."""
    screen = screen_for(request, screener_type)
    run = latest_run(screen)
    return JsonResponse({"run_id": run.pk if run else None})
