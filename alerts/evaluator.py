"""The evaluator: every price batch judged against the alerts of its instruments
(`index.AlertIndex`: O(log n + fired) per instrument), each firing stored once.

Exactly once, whatever happens: a firing is a conditional UPDATE of the alert (a `once`
alert still active; an `every_time` alert past its cooldown; neither expired), so a second
evaluator, or a restart judging a move again, finds nothing to update. The last price
judged per instrument is kept (`EvaluatorMark`, at most a second old, at once after a
firing); `load` catches up the move from there to the last known prices (`ltp_last`).
An alert judges only moves after it was made (from `created_price`); `above` and `below`
fire at once if already true.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from alerts.index import AlertIndex, Rule, rule_fires
from alerts.models import PCT_CONDITIONS, Alert, AlertEvent, EvaluatorMark
from prices.cache import PriceStore, price_store
from prices.calendar import IST

logger = logging.getLogger(__name__)

MARK_EVERY_SECONDS = 1.0
STATE_CONDITIONS = frozenset({"above", "below", *PCT_CONDITIONS})
Notify = Callable[[list[AlertEvent]], None]


class Evaluator:
    def __init__(self, *, notify: Notify, store: PriceStore | None = None) -> None:
        self.index = AlertIndex()
        self.last: dict[str, float] = {}  # the last price judged, per instrument
        self._notify = notify
        self._store = store or price_store()
        self._watermark = None  # the newest `updated_at` loaded
        self._unmarked: set[str] = set()
        self._marked_at = 0.0
        self.loaded_on = None  # the IST day of the last full load
        self._closes: dict[str, float] = {}  # previous closes, for change_pct levels

    # --- alerts in and out ------------------------------------------------------------

    def load(self) -> list[AlertEvent]:
        """Every active alert, and the moves missed while no evaluator ran."""
        self.loaded_on = datetime.now(IST).date()
        self.index = AlertIndex()
        alerts = list(Alert.objects.filter(status=Alert.Status.ACTIVE))
        keys = sorted({a.key for a in alerts})
        marks = {m.key: m for m in EvaluatorMark.objects.filter(key__in=keys)}
        known = self._store.read_quotes(keys)
        now_prices = {k: known.live.get(k) or known.last.get(k) for k in keys}
        self.last = {k: p for k, p in now_prices.items() if p is not None}
        self._closes = dict(known.prev_close)  # one read for every change_pct alert
        self._watermark = max((a.updated_at for a in alerts), default=None)
        events = []
        for alert in alerts:
            mark = marks.get(alert.key)
            since = mark.price if mark and mark.at >= alert.created_at else alert.created_price
            events += self._add(alert, since=None if since is None else float(since))
        self._mark(force=True)
        return events

    def refresh(self) -> list[AlertEvent]:
        """Alerts made, changed or deleted since the last look (deleted: gone from the
        active set at the next full load; here, expired or spent ones leave)."""
        changed = Alert.objects.all()
        if self._watermark is not None:
            changed = changed.filter(updated_at__gt=self._watermark)
        changed = list(changed)
        unknown = {a.key for a in changed if a.condition in PCT_CONDITIONS} - set(self._closes)
        if unknown:
            self._closes.update(self._store.read_quotes(sorted(unknown)).prev_close)
        events = []
        for alert in changed:
            self._watermark = max(self._watermark or alert.updated_at, alert.updated_at)
            self.index.remove(alert.pk)
            if alert.status == Alert.Status.ACTIVE:
                since = alert.created_price
                events += self._add(alert, since=None if since is None else float(since))
        return events

    def _add(self, alert: Alert, *, since: float | None) -> list[AlertEvent]:
        rule = self._rule(alert)
        if rule is None:
            return []
        self.index.add(rule)
        now = self.last.get(alert.key)
        if now is None:
            return []
        if alert.condition in STATE_CONDITIONS and alert.fire_count == 0:
            # Never fired: judged from "not true" (fires now if it is true already).
            since = -1.0 if rule.condition in ("above", "change_pct_above") else float("inf")
        if since is not None and rule_fires(rule, since, now):
            return self._fire([(alert.pk, since, now)])
        return []

    def _rule(self, alert: Alert) -> Rule | None:
        level = float(alert.value)
        if alert.condition in PCT_CONDITIONS:
            close = self._closes.get(alert.key)
            if close is None:
                return None  # no previous close yet: judged from the next load on
            level = close * (1 + level / 100)
        return Rule(alert.pk, alert.key, alert.condition, level)

    # --- prices in --------------------------------------------------------------------

    def on_prices(self, prices: dict[str, float]) -> list[AlertEvent]:
        """One batch: the alerts it fires, fired; the prices judged remembered."""
        fired = self.index.evaluate(self.last, prices)
        moves = []
        for alert_id in fired:
            rule = self.index.rule(alert_id)
            moves.append((alert_id, self.last[rule.key], prices[rule.key]))
        watched = self.index.keys()
        judged = {k: p for k, p in prices.items() if k in watched}
        self.last.update(judged)
        self._unmarked.update(judged)
        events = self._fire(moves) if moves else []
        self._mark(force=bool(events))
        return events

    def _fire(self, moves: list[tuple[int, float, float]]) -> list[AlertEvent]:
        events = []
        for alert_id, before, after in moves:
            event = fire(alert_id, before=before, after=after)
            if event is not None:
                events.append(event)
                if event.alert.frequency == Alert.Frequency.ONCE:
                    self.index.remove(alert_id)
        if events:
            self._notify(events)
        return events

    def _mark(self, *, force: bool = False) -> None:
        if not self._unmarked or (
            not force and time.monotonic() - self._marked_at < MARK_EVERY_SECONDS
        ):
            return
        now = timezone.now()
        rows = [EvaluatorMark(key=k, price=self.last[k], at=now) for k in self._unmarked]
        EvaluatorMark.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["key"], update_fields=["price", "at"]
        )
        self._unmarked.clear()
        self._marked_at = time.monotonic()


def fire(alert_id: int, *, before: float, after: float) -> AlertEvent | None:
    """Fire one alert if it may fire now; its event, or None. The UPDATE is a compare-and-
    set on `fire_count`: of two evaluators judging the same move, one wins; judged again
    later (a restart), a spent `once` alert is not active and an `every_time` one is
    within its cooldown."""
    now = timezone.now()
    alert = Alert.objects.filter(pk=alert_id, status=Alert.Status.ACTIVE).first()
    if alert is None or (alert.expires_at is not None and alert.expires_at <= now):
        return None
    once = alert.frequency == Alert.Frequency.ONCE
    cooldown = timedelta(seconds=alert.cooldown_seconds)
    if not once and alert.last_fired_at is not None and alert.last_fired_at > now - cooldown:
        return None
    with transaction.atomic():
        updated = Alert.objects.filter(
            pk=alert_id, status=Alert.Status.ACTIVE, fire_count=alert.fire_count
        ).update(
            fire_count=alert.fire_count + 1,
            last_fired_at=now,
            status=Alert.Status.TRIGGERED if once else Alert.Status.ACTIVE,
        )
        if not updated:
            return None  # another evaluator fired it first
        return AlertEvent.objects.create(
            alert=alert,
            previous_price=Decimal(repr(before)),
            price=Decimal(repr(after)),
            value=alert.value,
            triggered_at=now,
            webhook=AlertEvent.Delivery.PENDING if alert.webhook_url else AlertEvent.Delivery.NONE,
        )
