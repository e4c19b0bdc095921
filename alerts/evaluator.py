"""The evaluator: every price batch judged against the alerts of its instruments
(`index.AlertIndex`: O(log n + fired) per instrument), each firing stored once.

Exactly once, whatever happens: a firing is a conditional UPDATE of the alert (a `once`
alert still active; an `every_time` alert past its cooldown; neither expired), so a second
evaluator, or a restart judging a move again, finds nothing to update. The last price
judged per instrument is kept (`EvaluatorMark`, at most a second old, at once after a
firing); `load` catches up the move from there to the last known prices (`ltp_last`).
An alert judges only moves after it was made (from `created_price`); `above` and `below`
that never fired fire as soon as they are judged true (at creation if already true; at an
instrument's first price if none was known), with that price as the previous price.

One alert's failure is its own: any error judging, firing or storing it is logged once and
sets that alert to `error` (its reason kept for its owner), out of the index; the others
are judged as ever. A database that cannot be reached is no alert's fault: that raises, and
the service restarts the evaluator, which catches up (exactly once, as above).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import TypeVar

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from alerts.index import AlertIndex, Rule, holds, rule_fires
from alerts.models import ERROR_REASON_MAX_CHARS, PCT_CONDITIONS, Alert, AlertEvent, EvaluatorMark
from prices.cache import PriceStore, price_store
from prices.calendar import IST

logger = logging.getLogger(__name__)

MARK_EVERY_SECONDS = 1.0
STATE_CONDITIONS = frozenset({"above", "below", *PCT_CONDITIONS})
Notify = Callable[[list[AlertEvent]], None]
# The database itself failing (gone, locked, timed out): not one alert's fault.
DATABASE_DOWN = (OperationalError, InterfaceError)
T = TypeVar("T")


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
        # Never-fired state alerts of instruments with no price yet: judged at the first.
        self._unjudged: dict[str, set[int]] = {}

    # --- alerts in and out ------------------------------------------------------------

    def load(self) -> list[AlertEvent]:
        """Every active alert, and the moves missed while no evaluator ran."""
        self.loaded_on = datetime.now(IST).date()
        self.index = AlertIndex()
        self._unjudged = {}
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
            events += self._add(alert, since=since)
        self._mark(force=True)
        return events

    def refresh(self) -> list[AlertEvent]:
        """Alerts made, changed or deleted since the last look (deleted: gone from the
        active set at the next full load; here, expired or spent ones leave)."""
        changed = Alert.objects.all()
        if self._watermark is not None:
            changed = changed.filter(updated_at__gt=self._watermark)
        changed = list(changed)
        self._read_new(a for a in changed if a.status == Alert.Status.ACTIVE)
        events = []
        for alert in changed:
            self._watermark = max(self._watermark or alert.updated_at, alert.updated_at)
            self.index.remove(alert.pk)
            if alert.status == Alert.Status.ACTIVE:
                events += self._add(alert, since=alert.created_price)
        return events

    def _read_new(self, alerts: Iterable[Alert]) -> None:
        """One read of the price store, for what refreshed alerts need and the evaluator
        does not hold: the price of an instrument no alert watches (its last price judged
        is missing or stale: the batches of unwatched instruments are not judged) and the
        previous close of a change_pct alert's instrument."""
        alerts = list(alerts)
        watched = self.index.keys()
        unpriced = {a.key for a in alerts} - watched
        unclosed = {a.key for a in alerts if a.condition in PCT_CONDITIONS} - set(self._closes)
        if not unpriced and not unclosed:
            return
        known = self._store.read_quotes(sorted(unpriced | unclosed))
        self._closes.update(known.prev_close)
        for key in unpriced:
            price = known.live.get(key) or known.last.get(key)
            if price is None:
                self.last.pop(key, None)
                self._unmarked.discard(key)
            else:
                self.last[key] = price

    def _add(self, alert: Alert, *, since: Decimal | float | None) -> list[AlertEvent]:
        """Called by `load` and `refresh` for each active alert: into the index, and fired
        if the move from `since` to the last price says so. A failure sets it aside."""
        since = None if since is None else float(since)
        return self._isolated(alert.pk, partial(self._judge_new, alert, since=since)) or []

    def _judge_new(self, alert: Alert, *, since: float | None) -> list[AlertEvent]:
        rule = self._rule(alert)
        if rule is None:
            return []
        self.index.add(rule)
        self._unjudged.get(alert.key, set()).discard(alert.pk)
        now = self.last.get(alert.key)
        if alert.condition in STATE_CONDITIONS and alert.fire_count == 0:
            # Never fired: judged from "not true", at the price it is judged at.
            if now is None:
                self._unjudged.setdefault(alert.key, set()).add(alert.pk)
            elif holds(rule, now):
                return self._fire([(alert.pk, now, now)])
            return []
        if since is not None and now is not None and rule_fires(rule, since, now):
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
        if self._unjudged:
            moves += self._first_prices(prices, fired=set(fired))
        watched = self.index.keys()
        judged = {k: p for k, p in prices.items() if k in watched}
        self.last.update(judged)
        self._unmarked.update(judged)
        events = self._fire(moves) if moves else []
        self._mark(force=bool(events))
        return events

    def _first_prices(self, prices: dict[str, float], *, fired: set[int]) -> list:
        """Never-fired state alerts of instruments that had no price: true at the first
        one, they fire at it."""
        moves = []
        for key in self._unjudged.keys() & prices.keys():
            price = prices[key]
            for alert_id in self._unjudged.pop(key):
                rule = self.index.rule(alert_id)
                if rule is not None and alert_id not in fired and holds(rule, price):
                    moves.append((alert_id, price, price))
        return moves

    def _fire(self, moves: list[tuple[int, float, float]]) -> list[AlertEvent]:
        events = []
        for alert_id, before, after in moves:
            event = self._isolated(alert_id, partial(fire, alert_id, before=before, after=after))
            if event is not None:
                events.append(event)
                if event.alert.frequency == Alert.Frequency.ONCE:
                    self.index.remove(alert_id)
        for event in events:  # one by one: one delivery failing leaves the others theirs
            try:
                self._notify([event])
            except Exception:  # stored and shown already; it must not stop the judging
                logger.exception("alert %s: event stored, its delivery failed", event.alert_id)
        return events

    def _isolated(self, alert_id: int, step: Callable[[], T]) -> T | None:
        """`step` (judging, firing and storing one alert), or None if it failed: the alert
        is then set to `error`, logged once, and never judged again by this evaluator."""
        try:
            return step()
        except DATABASE_DOWN:
            raise  # the service restarts the evaluator; the catch-up judges it again
        except Exception as exc:  # anything else is this alert's alone: it is set aside
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:ERROR_REASON_MAX_CHARS]
            logger.exception("alert %s: set to error: %s", alert_id, reason)
            self.index.remove(alert_id)
            Alert.objects.filter(pk=alert_id, status=Alert.Status.ACTIVE).update(
                status=Alert.Status.ERROR, error_reason=reason, updated_at=timezone.now()
            )
            return None

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
