"""`/chart/<KEY>`: one instrument's chart page (templates/history/chart.html; the browser
draws it with static/js/chart.js from the history API and the live candles). Routed by
history/urls.py; open to anyone, like the screener pages, unless MARKETSTREAM_LOGIN_REQUIRED
(accounts.middleware then sends an anonymous visitor to sign in first)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dhan.segments import InstrumentKey, InstrumentKeyError
from prices.models import Instrument

# The page's timeframe switcher (templates/history/_chart.html), the first shown by default.
CHART_TIMEFRAMES = ("1m", "5m", "15m", "1h", "1d", "1w")
DEFAULT_TIMEFRAME = "1d"


def instrument_or_404(key: str) -> Instrument:
    """The instrument of `key` (`SEG:SID`), or a 404 for a malformed or unknown key."""
    try:
        parsed = InstrumentKey.parse(key)
    except InstrumentKeyError:
        raise Http404(f"no instrument {key!r}") from None
    instrument = Instrument.objects.filter(
        exchange_segment=parsed.segment_name, security_id=parsed.security_id
    ).first()
    if instrument is None:
        raise Http404(f"no instrument {key!r}")
    return instrument


@require_GET
def chart_page(request: HttpRequest, key: str) -> HttpResponse:
    """Called for GET /chart/<KEY>[?tf=TF]: the page, opening in `tf` (1d by default)."""
    instrument = instrument_or_404(key)
    tf = request.GET.get("tf")
    return render(
        request,
        "history/chart.html",
        {
            "instrument": instrument,
            "key": instrument.key,
            "tf": tf if tf in CHART_TIMEFRAMES else DEFAULT_TIMEFRAME,
            "tick": format(instrument.tick_size.normalize(), "f"),
        },
    )
