"""Celery tasks of screens: a requested run (`screeners.run`), the beat's after-close runs
(trading days, after the day's bars are in) and every-N-minutes runs on the forming bar in
market hours (`screeners.run_due`, each minute), and delivery of new-entrant notices by
webhook (signed, retried with the same event id for up to an hour, every try recorded on
the notice) and by email. The worker's closed daily bars are kept between its every-N-
minutes runs (`ClosedBars`, on the worker's Celery app): each re-run then reads only the
live candles."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import Celery, Task, shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from prices import calendar
from screeners import barcache, notify, runs
from screeners.compute import compile_screen
from screeners.language import ScreenSyntaxError
from screeners.models import Screen, ScreenNotice, ScreenRun
from webhooks.delivery import deliver

logger = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 5
GIVE_UP_AFTER_SECONDS = 3600
MAX_RETRIES = 12
SESSION_OPEN_MINUTE = 9 * 60 + 15  # 09:15 IST: every-N-minutes runs count from the open
IST = notify.IST
KEPT_ATTRIBUTE = "screen_closed_bars"


def kept_bars(app: Celery) -> barcache.ClosedBars:
    """This worker's closed daily bars for its screen runs, kept on the Celery app it runs
    (as its connection registry is), made at its first run."""
    kept = getattr(app, KEPT_ATTRIBUTE, None)
    if kept is None:
        kept = barcache.ClosedBars()
        setattr(app, KEPT_ATTRIBUTE, kept)
    return kept


@shared_task(bind=True, name="screeners.run", ignore_result=True)
def execute_run(self: Task, run_id: int) -> str:
    """Queued by `runs.request_run`; a retried or duplicated task finds the run done. A
    failure no screen text explains (the database went away) ends the run `failed`, not
    queued for ever; the trace goes to the log."""
    return _guarded(run_id, kept=kept_bars(self.app))


def _guarded(run_id: int, *, forming: bool = False, kept: barcache.ClosedBars | None) -> str:
    """Execute a queued run; what no screen text explains fails that run alone."""
    try:
        return runs.execute(run_id, forming=forming, kept=kept).state
    except Exception:  # the run must say it failed; the worker and the other runs go on
        logger.exception("screen run %s failed", run_id)
        runs.mark_failed(run_id, "the run failed on the worker: see its log")
        return ScreenRun.State.FAILED


@shared_task(name="screeners.after_close", ignore_result=True)
def after_close() -> int:
    """The beat, after the day's bars are stored: every `after_close` screen, on trading
    days; screens whose universe is another screen run after it (shared first)."""
    if not calendar.is_trading_day(datetime.now(IST).date()):
        return 0
    screens = Screen.objects.filter(schedule="after_close").order_by("universe", "pk")
    ordered = sorted(screens, key=lambda s: s.universe.startswith("screener:"))
    for screen in ordered:
        run = ScreenRun.objects.create(screen=screen, trigger=ScreenRun.Trigger.AFTER_CLOSE)
        _guarded(run.pk, kept=None)  # the day's bars were just written: read afresh
    return len(ordered)


@shared_task(bind=True, name="screeners.run_due", ignore_result=True)
def run_due(self: Task) -> int:
    """The beat, each minute: in market hours, the `every_N_minutes` screens due at this
    minute of the session, on the forming bar; notices a crash left pending go out."""
    notify.sweep()
    if not calendar.market_is_open():
        return 0
    now = datetime.now(IST)
    minute = now.hour * 60 + now.minute - SESSION_OPEN_MINUTE
    due = [
        s
        for s in Screen.objects.filter(schedule__startswith="every_")
        if s.interval_minutes and minute % s.interval_minutes == 0
    ]
    # The widest look-back first: the kept closed bars are read once, the others slice them.
    for screen in sorted(due, key=bars_read, reverse=True):
        run = ScreenRun.objects.create(screen=screen, trigger=ScreenRun.Trigger.INTERVAL)
        _guarded(run.pk, forming=True, kept=kept_bars(self.app))
    return len(due)


def bars_read(screen: Screen) -> int:
    """How many bars a run of `screen` reads (0 for text that no longer parses: it fails);
    the beat orders its runs by it, and so does the benchmark."""
    try:
        return compile_screen(
            condition=screen.condition, columns=screen.columns, rank_by=screen.rank_by
        ).bars
    except ScreenSyntaxError:
        return 0


def _record(notice: ScreenNotice, **attempt: object) -> None:
    notice.attempts = [*notice.attempts, {"at": timezone.now().isoformat(), **attempt}]


@shared_task(bind=True, name="screeners.deliver_webhook", ignore_result=True, max_retries=None)
def deliver_webhook(self, notice_id: int) -> str:
    """Queued by `notify.dispatch`; runs again on retry with the same event id."""
    notice = ScreenNotice.objects.select_related("run__screen").filter(pk=notice_id).first()
    if notice is None or notice.state != ScreenNotice.State.PENDING:
        return "nothing to deliver"
    screen = notice.run.screen
    outcome = deliver(
        screen.webhook_url,
        notify.webhook_body(notice),
        secret=screen.webhook_secret,
        event_id=str(notice.event_id),
    )
    _record(notice, **outcome.attempt())
    age = (timezone.now() - notice.created_at).total_seconds()
    delay = min(RETRY_BASE_SECONDS * 2**self.request.retries, 600)
    if outcome.delivered or not outcome.worth_retrying or age + delay > GIVE_UP_AFTER_SECONDS:
        notice.state = (
            ScreenNotice.State.DELIVERED if outcome.delivered else ScreenNotice.State.FAILED
        )
        notice.save(update_fields=["attempts", "state"])
        if not outcome.delivered:
            logger.warning("screen %s: webhook %s: %s", screen.slug, outcome.result, outcome.why)
        return notice.state
    notice.save(update_fields=["attempts"])
    if self.request.retries >= MAX_RETRIES:
        ScreenNotice.objects.filter(pk=notice.pk).update(state=ScreenNotice.State.FAILED)
        return "failed"
    raise self.retry(countdown=delay * settings.ALERT_WEBHOOK_RETRY_SCALE)


@shared_task(name="screeners.send_email", ignore_result=True)
def send_email(notice_id: int) -> None:
    notice = ScreenNotice.objects.select_related("run__screen__owner").filter(pk=notice_id).first()
    if notice is None or not notify.claim(notice):
        return
    run, screen = notice.run, notice.run.screen
    lines = [f"{r['symbol']} at {r['price']}" for r in notify.entrants(run)]
    send_mail(
        subject=f"MarketStream screen {screen.name}: {len(lines)} new",
        message=f"New in {screen.name} ({run.computed_at:%d %b %H:%M %Z}):\n" + "\n".join(lines),
        from_email=None,
        recipient_list=[screen.owner.email],
    )
