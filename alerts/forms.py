"""The alerts page's form (templates/alerts/alerts.html, posted to alerts.views): its fields
as the API's body, for `alerts.validation.parse_alert` to check as it checks the API's. The
instrument is what the user gave: the key the page's picker chose (`picked_key`, sent by
static/js/alert_form.js), else the text typed, a key (`NSE_EQ:2885`) or a trading symbol
(`RELIANCE`: `validation.key_from_text`)."""

from __future__ import annotations

from django.http import QueryDict

from alerts.validation import key_from_text
from dhan.segments import InstrumentKey, InstrumentKeyError
from prices.models import Instrument


def form_body(post: QueryDict) -> dict:
    """The API's body of a posted form. Called by the page's view for each POST; raises
    AlertInputError when the instrument text names none."""
    body = {
        "key": _instrument_key(post.get("key", ""), picked=post.get("picked_key", "")),
        "condition": post.get("condition", ""),
        "value": post.get("value", "").strip(),
        "frequency": post.get("frequency") or "once",
        "note": post.get("note", ""),
    }
    if post.get("cooldown_seconds", "").strip().isdigit():
        body["cooldown_seconds"] = int(post["cooldown_seconds"])
    if post.get("expires_at", "").strip():
        body["expires_at"] = post["expires_at"].strip()
    if post.get("webhook_url", "").strip():
        body["webhook"] = {"url": post["webhook_url"], "secret": post.get("webhook_secret", "")}
    return body


def _instrument(key: str) -> Instrument | None:
    try:
        parsed = InstrumentKey.parse(key)
    except InstrumentKeyError:
        return None
    return Instrument.objects.filter(
        exchange_segment=parsed.segment_name, security_id=parsed.security_id
    ).first()


def _instrument_key(text: str, *, picked: str) -> str:
    """The picked key while the text still shows its symbol (a page without the script
    keeps a stale pick as the user types another symbol over it); else the text's."""
    text = text.strip()
    instrument = _instrument(picked.strip()) if picked.strip() else None
    if instrument is not None and text.casefold() in (
        instrument.trading_symbol.casefold(),
        instrument.key.casefold(),
    ):
        return instrument.key
    return key_from_text(text)


def prefill_from_link(key: str) -> dict:
    """The form's instrument when a link names a key (a screener row's bell, a chart page:
    `/alerts/?key=NSE_EQ:2885`): its symbol shown, its key picked. Called by the page's
    view on a GET; an unknown key is shown as it came, for the POST to refuse."""
    instrument = _instrument(key)
    if instrument is None:
        return {"key": key, "picked_key": ""}
    return {"key": instrument.trading_symbol, "picked_key": instrument.key}
