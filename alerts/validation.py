"""An alert as a client describes it (the JSON API and the page's form), checked field by
field: every refusal names the problem (a 400's `error`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from alerts.models import CONDITIONS, PCT_CONDITIONS, Alert
from dhan.segments import InstrumentKey, InstrumentKeyError
from prices.models import Instrument
from webhooks.targets import TargetError, check_url

MAX_NOTE = 200
MAX_COOLDOWN_SECONDS = 7 * 24 * 3600
MAX_PRICE = Decimal(10**9)  # above any listed price; the column holds 10 integer digits
FIELDS = {
    "key",
    "condition",
    "value",
    "frequency",
    "cooldown_seconds",
    "expires_at",
    "note",
    "webhook",
}


class AlertInputError(ValueError):
    """What is wrong with an alert a client sent (shown to the client)."""


@dataclass(frozen=True, slots=True)
class AlertInput:
    key: str
    condition: str
    value: Decimal
    frequency: str
    cooldown_seconds: int
    expires_at: datetime | None
    note: str
    webhook_url: str
    webhook_secret: str


def _key(raw: object) -> tuple[str, Instrument]:
    if not isinstance(raw, str):
        raise AlertInputError("'key' must be a SEGMENT:SECURITY_ID string")
    try:
        key = InstrumentKey.parse(raw)
    except InstrumentKeyError as exc:
        raise AlertInputError(str(exc)) from None
    instrument = Instrument.objects.filter(
        exchange_segment=key.segment_name, security_id=key.security_id
    ).first()
    if instrument is None:
        raise AlertInputError(f"unknown instrument {key}")
    return str(key), instrument


# A trading symbol listed in several segments means its cash listing here first.
PREFERRED_SEGMENT = "NSE_EQ"


def key_from_text(text: str) -> str:
    """The key of the instrument the alert form's text names: a key as given
    (`NSE_EQ:2885`: `parse_alert` checks it), or a trading symbol, any case (`RELIANCE`):
    its NSE_EQ listing, else its only listing. Called by alerts.forms for the page's form
    (the API takes keys only). Raises AlertInputError for a symbol nobody lists, or one
    listed in several segments but not NSE_EQ."""
    text = text.strip()
    if not text:
        raise AlertInputError("name an instrument: pick one from the list, or type its symbol")
    if ":" in text:
        return text
    listings = {
        row.exchange_segment: row.key
        for row in Instrument.objects.filter(trading_symbol__iexact=text)
    }
    if PREFERRED_SEGMENT in listings:
        return listings[PREFERRED_SEGMENT]
    if len(listings) == 1:
        return next(iter(listings.values()))
    if listings:
        segments = ", ".join(sorted(listings))
        raise AlertInputError(f"{text} is listed in {segments}: pick one from the list")
    raise AlertInputError(
        f"unknown symbol {text!r}: pick an instrument from the list, or give its key "
        "(as NSE_EQ:2885)"
    )


def _value(raw: object, condition: str, instrument: Instrument) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise AlertInputError("'value' must be a number")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise AlertInputError(f"'value' {raw!r} is not a number") from None
    if not value.is_finite():
        raise AlertInputError("'value' must be finite")
    if condition in PCT_CONDITIONS:
        if abs(value) > 100:
            raise AlertInputError("a change of more than 100% cannot happen in a day")
        return value
    if value <= 0:
        raise AlertInputError("a price level must be positive")
    if value >= MAX_PRICE:
        raise AlertInputError(f"a price level must be below {MAX_PRICE:,}")
    if value % instrument.tick_size:
        tick = instrument.tick_size.normalize()
        raise AlertInputError(f"{value} is not on {instrument.trading_symbol}'s tick grid ({tick})")
    return value


def _expires(raw: object) -> datetime | None:
    if raw in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        raise AlertInputError("'expires_at' must be an ISO-8601 time or null") from None
    if timezone.is_naive(moment):
        raise AlertInputError("'expires_at' needs a time zone offset")
    if moment <= timezone.now():
        raise AlertInputError("'expires_at' is in the past")
    return moment


def webhook_url(url: str) -> str:
    """`url` if a webhook may call it: http(s), and a host that resolves, every address of
    it outside the server's network (or allowed by the operator). Called for the API and
    the page (through `parse_alert`) and by the admin's form."""
    longest = Alert._meta.get_field("webhook_url").max_length
    if len(url) > longest:
        raise AlertInputError(f"the webhook URL is too long ({longest} characters at most)")
    try:
        check_url(url)
    except TargetError as exc:
        raise AlertInputError(str(exc)) from None
    return url


def _webhook(raw: object) -> tuple[str, str]:
    if raw in (None, ""):
        return "", ""
    if not isinstance(raw, dict) or not isinstance(raw.get("url"), str):
        raise AlertInputError('\'webhook\' must be {"url", "secret"} or null')
    url, secret = webhook_url(raw["url"].strip()), raw.get("secret") or ""
    if not isinstance(secret, str) or len(secret) < 8:
        raise AlertInputError("the webhook secret must be a string of 8 characters or more")
    return url, secret


def parse_alert(body: object) -> AlertInput:
    if not isinstance(body, dict):
        raise AlertInputError("the body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise AlertInputError(f"unknown fields: {', '.join(unknown)}")
    condition = body.get("condition")
    if condition not in CONDITIONS:
        raise AlertInputError(f"unknown condition {condition!r}: use {', '.join(CONDITIONS)}")
    key, instrument = _key(body.get("key"))
    frequency = body.get("frequency") or Alert.Frequency.ONCE
    if frequency not in Alert.Frequency.values:
        raise AlertInputError("'frequency' must be once or every_time")
    cooldown = body.get("cooldown_seconds", 60)
    if (
        isinstance(cooldown, bool)
        or not isinstance(cooldown, int)
        or not 1 <= cooldown <= MAX_COOLDOWN_SECONDS
    ):
        raise AlertInputError(
            f"'cooldown_seconds' must be a whole number from 1 to {MAX_COOLDOWN_SECONDS}"
        )
    note = body.get("note") or ""
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise AlertInputError(f"'note' must be text of at most {MAX_NOTE} characters")
    url, secret = _webhook(body.get("webhook"))
    return AlertInput(
        key=key,
        condition=condition,
        value=_value(body.get("value"), condition, instrument),
        frequency=frequency,
        cooldown_seconds=cooldown,
        expires_at=_expires(body.get("expires_at")),
        note=note,
        webhook_url=url,
        webhook_secret=secret,
    )
