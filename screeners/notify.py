"""Telling a screen's owner about a run's new entrants: the browser (`screen_entered` on
the user's push path, kind "screen"), email and a signed webhook in our format or
Chartink's (Celery tasks in `screeners.tasks`, retried with the same event id). Each
notice is claimed before it is sent (a conditional update from `pending`), so a second
dispatcher, a restart or the sweeper never sends it twice; every webhook try is recorded
on the notice. Called by the runner after a run commits, and by the sweeper for notices
a crash left pending."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from celery import current_app
from django.db.models import Q
from django.utils import timezone

from prices.userpush import push_to_user
from screeners.models import ScreenNotice, ScreenRow, ScreenRun

logger = logging.getLogger(__name__)

IST = timezone.get_fixed_timezone(timedelta(hours=5, minutes=30))
SWEEP_AFTER = timedelta(minutes=1)  # a notice pending this long lost its dispatcher
WEBHOOK_SWEEP_AFTER = timedelta(minutes=10)
WEBHOOK_TASK = "screeners.deliver_webhook"
EMAIL_TASK = "screeners.send_email"


def entrants(run: ScreenRun) -> list[dict]:
    """`[{"key", "symbol", "price"}]` of the run's entrants, in rank order."""
    entered = set(run.entered)
    rows = ScreenRow.objects.filter(run=run).select_related("instrument").order_by("rank")
    return [
        {"key": r.instrument.key, "symbol": r.instrument.trading_symbol, "price": r.price}
        for r in rows
        if r.instrument.key in entered
    ]


def browser_message(run: ScreenRun) -> dict:
    return {
        "type": "screen_entered",
        "screen": run.screen.slug,
        "name": run.screen.name,
        "run_id": run.pk,
        "entered": entrants(run),
    }


def webhook_body(notice: ScreenNotice) -> bytes:
    """The contract's `marketstream` body, or Chartink's alert payload."""
    run = notice.run
    screen, rows = run.screen, entrants(run)
    if screen.webhook_format == "chartink":
        at = (run.computed_at or datetime.now(UTC)).astimezone(IST)
        body: dict = {
            "stocks": ",".join(r["symbol"] for r in rows),
            "trigger_prices": ",".join(
                "" if r["price"] is None else f"{r['price']:g}" for r in rows
            ),
            "triggered_at": at.strftime("%I:%M %p").lstrip("0").lower(),
            "scan_name": screen.name,
            "scan_url": screen.slug,
            "alert_name": f"Alert for {screen.name}",
        }
    else:
        body = {
            "event_id": str(notice.event_id),
            "screen": screen.slug,
            "run_id": run.pk,
            "entered": rows,
            "computed_at": run.computed_at.isoformat() if run.computed_at else None,
        }
    return json.dumps(body, separators=(",", ":")).encode()


def _price(price: float | None) -> str:
    return "" if price is None else f"{price:g}"


def claim(notice: ScreenNotice) -> bool:
    """Take a browser or email notice for sending: True for exactly one caller."""
    return bool(
        ScreenNotice.objects.filter(pk=notice.pk, state=ScreenNotice.State.PENDING).update(
            state=ScreenNotice.State.DELIVERED
        )
    )


def dispatch(run: ScreenRun, notices: list[ScreenNotice]) -> None:
    """Send each notice once; one channel failing costs only itself. Email and webhook
    go through their Celery tasks (`screeners.tasks`, by name), which retry."""
    for notice in notices:
        try:
            if notice.channel == ScreenNotice.Channel.WEBHOOK:
                current_app.tasks[WEBHOOK_TASK].delay(notice.pk)
            elif notice.channel == ScreenNotice.Channel.EMAIL:
                current_app.tasks[EMAIL_TASK].delay(notice.pk)
            elif claim(notice):
                push_to_user(run.screen.owner_id, kind="screen", message=browser_message(run))
        except Exception:  # the sweeper tries a pending notice again; the others go on
            logger.exception(
                "screen %s run %s: %s notice not sent", run.screen.slug, run.pk, notice.channel
            )


def sweep(*, now: datetime | None = None) -> int:
    """Notices a crash left pending (never claimed, never tried): dispatched again. A
    browser or email notice is claimed as it is sent, so it goes once whatever; a webhook
    is not, so it waits WEBHOOK_SWEEP_AFTER (its task may only be queued behind others),
    and a second delivery would carry the same event id."""
    now = now or timezone.now()
    pending = Q(state=ScreenNotice.State.PENDING, attempts=[])
    claimed = ~Q(channel=ScreenNotice.Channel.WEBHOOK) & Q(created_at__lt=now - SWEEP_AFTER)
    webhook = Q(channel=ScreenNotice.Channel.WEBHOOK, created_at__lt=now - WEBHOOK_SWEEP_AFTER)
    stale = ScreenNotice.objects.filter(pending & (claimed | webhook)).select_related("run__screen")
    count = 0
    for notice in stale:
        dispatch(notice.run, [notice])
        count += 1
    return count
