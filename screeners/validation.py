"""A SCREEN as the API, the editor and the admin send it, checked into model fields. Every
problem is a ScreenInputError naming the field and, for screen-language text, the 0-based
character position the editor underlines. Called by `screeners.api` and `screeners.forms`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.text import slugify

from history.timeframes import TimeframeError, check_timeframe
from screeners.language import ScreenSyntaxError, parse_condition, parse_expression
from screeners.models import MAX_LIMIT, SCHEDULES, WEBHOOK_FORMATS, Screen, visible_to
from screeners.universe import UniverseError, parse_universe
from webhooks.targets import TargetError, check_url

MAX_COLUMNS = 12
COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MIN_SECRET_CHARS = 8
DEFAULTS = {
    "universe": "segment:NSE_EQ",
    "timeframe": "1d",
    "columns": {},
    "rank_by": "",
    "descending": True,
    "limit": 100,
    "schedule": "manual",
    "notify": None,
}


@dataclass
class ScreenInputError(ValueError):
    message: str
    field: str = ""
    position: int | None = None

    def __str__(self) -> str:
        return self.message

    def as_json(self) -> dict:
        shown: dict = {"error": self.message}
        if self.field:
            shown["field"] = self.field
        if self.position is not None:
            shown["position"] = self.position
        return shown


def check_text(text: object, *, field: str, condition: bool) -> str:
    """Screen-language text that parses and validates; the error carries its position."""
    if not isinstance(text, str):
        raise ScreenInputError(f"{field} must be text", field)
    try:
        (parse_condition if condition else parse_expression)(text)
    except ScreenSyntaxError as exc:
        raise ScreenInputError(f"{field}: {exc.message}", field, exc.position) from None
    return text


def screen_fields(body: dict, *, owner_id: int | None, screen: Screen | None = None) -> dict:
    """Model fields from a SCREEN body: all of them for a new screen (missing ones take
    their defaults), only those present when `screen` is being changed. `owner_id`: whose
    screen it is (None: a shared one), so that `screener:SLUG` names a screen they see."""
    if not isinstance(body, dict):
        raise ScreenInputError("the body must be a JSON object")
    known = {"name", "slug", *DEFAULTS, "condition"}
    unknown = sorted(set(body) - known - {"id", "owner"})
    if unknown:
        raise ScreenInputError(f"unknown field {unknown[0]!r}", unknown[0])
    given = body if screen is not None else {**DEFAULTS, **body}
    if screen is None and "condition" not in given:
        raise ScreenInputError("condition is required", "condition")
    fields: dict = {}
    for name, value in given.items():
        if name in ("id", "owner"):
            continue
        if name == "universe":
            fields["universe"] = _universe(value, owner_id=owner_id)
        else:
            fields.update(_field(name, value, screen=screen))
    if screen is None:
        fields.setdefault("name", "Untitled screen")
        fields.setdefault("slug", unique_slug(fields["name"]))
    return fields


def _field(name: str, value: object, *, screen: Screen | None) -> dict:
    if name == "name":
        if not isinstance(value, str) or not 1 <= len(value.strip()) <= 100:
            raise ScreenInputError("name must be 1 to 100 characters", name)
        return {"name": value.strip()}
    if name == "slug":
        return {"slug": _slug(value, screen=screen)}
    if name == "condition":
        return {"condition": check_text(value, field=name, condition=True)}
    if name == "rank_by":
        if value in ("", None):
            return {"rank_by": ""}
        return {"rank_by": check_text(value, field=name, condition=False)}
    if name == "columns":
        return {"columns": _columns(value)}
    if name == "notify":
        return _notify(value, screen=screen)
    return {name: _scalar(name, value)}


def _universe(value: object, *, owner_id: int | None) -> str:
    try:
        universe = parse_universe(value if isinstance(value, str) else "")
    except UniverseError as exc:
        raise ScreenInputError(str(exc), "universe") from None
    if universe.kind == "screener" and not visible_to(owner_id).filter(slug=universe.value[0]):
        raise ScreenInputError(f"no screen {universe.value[0]!r} to take rows from", "universe")
    return str(universe)


def _scalar(name: str, value: object) -> object:
    if name == "timeframe":
        try:
            return check_timeframe(value if isinstance(value, str) else "")
        except TimeframeError as exc:
            raise ScreenInputError(str(exc), name) from None
    if name == "descending":
        if not isinstance(value, bool):
            raise ScreenInputError("descending must be true or false", name)
        return value
    if name == "limit":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
            raise ScreenInputError(f"limit must be an integer from 1 to {MAX_LIMIT}", name)
        return value
    if value not in SCHEDULES:
        raise ScreenInputError(f"schedule must be one of {', '.join(SCHEDULES)}", name)
    return value


def _columns(value: object) -> dict:
    if not isinstance(value, dict) or len(value) > MAX_COLUMNS:
        raise ScreenInputError(f"columns must be an object of at most {MAX_COLUMNS}", "columns")
    for name, text in value.items():
        if not COLUMN_NAME.match(name):
            raise ScreenInputError(
                f"column name {name!r}: lower-case letters, digits and _, 32 at most", "columns"
            )
        check_text(text, field=f"columns.{name}", condition=False)
    return dict(value)


def _slug(value: object, *, screen: Screen | None) -> str:
    if not isinstance(value, str) or slugify(value) != value or not 1 <= len(value) <= 40:
        raise ScreenInputError("slug must be 1 to 40 lower-case letters, digits and -", "slug")
    taken = Screen.objects.filter(slug=value).exclude(pk=screen.pk if screen else None)
    if taken.exists():
        raise ScreenInputError(f"the slug {value!r} is taken", "slug")
    return value


def unique_slug(name: str) -> str:
    """A free slug made from `name`: `golden-cross`, then `golden-cross-2`, ..."""
    base = (slugify(name) or "screen")[:34].strip("-") or "screen"
    slug, n = base, 1
    while Screen.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _notify(value: object, *, screen: Screen | None) -> dict:
    if value is None:
        return {"notify": False, "notify_email": False, "webhook_url": "", "webhook_secret": ""}
    if not isinstance(value, dict) or value.get("on", "entered") != "entered":
        raise ScreenInputError('notify must be {"on": "entered", "webhook", "email"} or null')
    email = value.get("email", False)
    if not isinstance(email, bool):
        raise ScreenInputError("notify.email must be true or false", "notify")
    fields = {"notify": True, "notify_email": email, "webhook_url": ""}
    fields.update(webhook_format="marketstream", webhook_secret="")
    hook = value.get("webhook")
    if hook is None:
        return fields
    if not isinstance(hook, dict) or not isinstance(hook.get("url"), str):
        raise ScreenInputError('notify.webhook must be {"url", "secret", "format"} or null')
    secret = hook.get("secret") or (screen.webhook_secret if screen else "")
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_CHARS:
        raise ScreenInputError("the webhook secret must be 8 characters or more", "notify")
    fmt = hook.get("format", "marketstream")
    if fmt not in WEBHOOK_FORMATS:
        raise ScreenInputError(f"webhook format must be {' or '.join(WEBHOOK_FORMATS)}", "notify")
    url = hook["url"].strip()
    if len(url) > Screen._meta.get_field("webhook_url").max_length:
        raise ScreenInputError("the webhook URL is too long", "notify")
    try:
        check_url(url)
    except TargetError as exc:
        raise ScreenInputError(f"webhook URL refused: {exc}", "notify") from None
    return {**fields, "webhook_url": url, "webhook_secret": secret, "webhook_format": fmt}


def apply_fields(screen: Screen, fields: dict) -> Screen:
    """Set checked `fields` on `screen` (the secret encrypted); the caller saves it."""
    fields = dict(fields)
    if "webhook_secret" in fields:
        screen.set_webhook_secret(fields.pop("webhook_secret"))
    for name, value in fields.items():
        setattr(screen, name, value)
    return screen
