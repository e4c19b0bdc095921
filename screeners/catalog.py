"""The shipped screens in the database: `install_shipped` makes any of `swing` and
`longterm` (screeners/shipped.py) that is missing, and leaves those there as they are
(staff may have edited them). Called by the data migration that ships them and by the demo
and tests, which start from an empty table."""

from __future__ import annotations

from screeners.shipped import SHARED

SCREEN_FIELDS = (
    "name", "universe", "timeframe", "condition", "columns", "rank_by", "descending", "limit",
    "schedule",
)  # fmt: skip


def install_shipped(screen_model=None) -> list:
    """The shipped screens, made where missing; `screen_model` is a migration's
    historical model (default: the app's)."""
    if screen_model is None:
        from screeners.models import Screen as screen_model
    screens = []
    for shipped in SHARED:
        defaults = {name: shipped[name] for name in SCREEN_FIELDS}
        screen, _ = screen_model.objects.get_or_create(slug=shipped["slug"], defaults=defaults)
        screens.append(screen)
    return screens
