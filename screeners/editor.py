"""The screen editor's pages, `/screeners/new` and `/screeners/<slug>/edit` (routed by
screeners/urls.py): a server-rendered form holding a SCREEN's fields (empty, a preset's from
`screeners.shipped.PRESETS`, or a saved screen's), which static/js/screen_editor.js checks
as the user types and saves and runs through the screens API (`screeners.api`). Signed-in
users only; a screen's editor is its owner's (staff's for a shared one), a 404 to others."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from history.timeframes import TIMEFRAMES
from screeners.apischemas import screen_json
from screeners.models import MAX_LIMIT, SCHEDULE_MINUTES, WEBHOOK_FORMATS, Screen
from screeners.shipped import PRESETS
from screeners.validation import DEFAULTS
from screeners.views import may_edit, screen_for

# The schedule select's options, in the order offered: (value, what it means).
SCHEDULE_CHOICES = (
    ("manual", "manual: when I run it"),
    ("after_close", "after the close, on trading days"),
    *(
        (f"every_{n}_minutes", f"every {n} minute{'s' if n > 1 else ''} in market hours")
        for n in SCHEDULE_MINUTES
    ),
)
# A new screen's fields before the user or a preset fills them.
BLANK = {**DEFAULTS, "name": "", "condition": ""}


@login_required
@require_GET
def new_screen(request: HttpRequest) -> HttpResponse:
    """GET /screeners/new[?preset=NAME]: an empty editor, or one filled from a preset
    (an unknown preset name gives the empty one). Saving makes a screen of the user's."""
    preset = request.GET.get("preset", "")
    if preset not in PRESETS:
        preset = ""
    values = {**BLANK, **PRESETS.get(preset, {})}
    return _editor(request, values=values, screen=None, preset=preset)


@login_required
@require_GET
def edit_screen(request: HttpRequest, screener_type: str) -> HttpResponse:
    """GET /screeners/<slug>/edit: the screen's fields for whoever may change it; its
    webhook secret is never shown (left blank, the stored one is kept)."""
    screen = screen_for(request, screener_type)  # 404 for another user's
    if not may_edit(request.user, screen):  # a shared screen, to a user who is not staff
        raise Http404(f"no screen {screener_type!r} of yours")
    return _editor(request, values=screen_json(screen), screen=screen, preset="")


def _editor(
    request: HttpRequest, *, values: dict, screen: Screen | None, preset: str
) -> HttpResponse:
    notify = values.get("notify") or {}
    webhook = notify.get("webhook") or {}
    return render(
        request,
        "screeners/editor.html",
        {
            "screen": screen,
            "title": f"Edit {screen.name}" if screen else "New screen",
            "values": values,
            # Pairs, not the dict: a column named `items` would shadow the template's lookup.
            "columns": list(values["columns"].items()),
            "notify_on": bool(values.get("notify")),
            "notify_email": bool(notify.get("email")),
            "webhook_url": webhook.get("url", ""),
            "webhook_format": webhook.get("format", WEBHOOK_FORMATS[0]),
            "has_secret": bool(screen and screen.webhook_secret_encrypted),
            "presets": [(name, p["name"]) for name, p in PRESETS.items()],
            "preset": preset,
            "timeframes": list(TIMEFRAMES),
            "schedules": SCHEDULE_CHOICES,
            "formats": WEBHOOK_FORMATS,
            "max_limit": MAX_LIMIT,
        },
    )
