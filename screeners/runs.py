"""Running screens: a run is requested (a queued `ScreenRun`: the page, the API, the admin,
the beat), then executed once by whoever picks it up (the Celery task `screeners.run`,
or this process for `manage.py run_screen`): the universe's bars are evaluated, the rows
stored with the keys that entered and left since the screen's previous run, and, in the
same transaction, one notice per channel when there are entrants and the screen notifies.
After the commit the notices go out (`screeners.notify`) and the screen's stream follows
its new rows (`streams.control.follow_source`). A run that fails says why on itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from celery import current_app
from django.db import transaction
from django.utils import timezone

from history.arrays import BarArrays
from screeners import barcache
from screeners.compute import Match, compile_screen, evaluate
from screeners.language import ScreenSyntaxError
from screeners.models import (
    Screen,
    ScreenNotice,
    ScreenRow,
    ScreenRun,
    latest_run,
    latest_run_instruments,
    visible_to,
)
from screeners.universe import UniverseError, instruments, parse_universe
from streams.control import follow_source

logger = logging.getLogger(__name__)

Trigger = ScreenRun.Trigger
RUN_TASK = "screeners.run"
# Called after a run's commit with its screen's slug when its rows changed: the stream
# layer's `follow_source` unless a caller (a test) passes another.
Follower = Callable[[str], object]


class RunError(Exception):
    """A screen that cannot run as saved (bad universe, text no longer valid)."""


def request_run(screen: Screen, *, trigger: str = Trigger.MANUAL) -> ScreenRun:
    """A queued run of `screen`, handed to the workers (`screeners.tasks`, by the task's
    name) once this transaction commits."""
    run = ScreenRun.objects.create(screen=screen, trigger=trigger)
    transaction.on_commit(lambda: current_app.tasks[RUN_TASK].delay(run.pk))
    return run


def run_now(
    screen: Screen,
    *,
    trigger: str = Trigger.MANUAL,
    forming: bool = False,
    follow: Follower | None = follow_source,
) -> ScreenRun:
    """Run `screen` in this process and return the finished run (manage.py run_screen)."""
    run = ScreenRun.objects.create(screen=screen, trigger=trigger)
    return execute(run.pk, forming=forming, follow=follow)


def execute(
    run_id: int,
    *,
    forming: bool = False,
    kept: barcache.ClosedBars | None = None,
    follow: Follower | None = follow_source,
) -> ScreenRun:
    """Compute and store queued run `run_id`; a run already done (a retried task) is left
    as it is. A screen that cannot run ends `failed` with the reason."""
    run = ScreenRun.objects.select_related("screen__owner").get(pk=run_id)
    if run.state != ScreenRun.State.QUEUED:
        return run
    started = time.perf_counter()
    screen = run.screen
    try:
        compiled = compile_screen(
            condition=screen.condition, columns=screen.columns, rank_by=screen.rank_by
        )
        universe = parse_universe(screen.universe)
        members = (
            kept.members(screen.universe, lambda: instruments(universe))
            if kept is not None and universe.kind == "segment"  # changes with load_instruments
            else instruments(universe, screen_rows=lambda slug: _rows_of(slug, screen))
        )
    except (ScreenSyntaxError, UniverseError) as exc:
        return _fail(run, f"cannot run as saved: {exc}")
    keys = tuple(i.key for i in members)
    arrays, with_forming = barcache.load(
        keys, screen.timeframe, compiled.bars, forming=forming, kept=kept
    )
    matches = evaluate(
        compiled,
        arrays,
        descending=screen.descending,
        limit=screen.limit,
        symbols=[i.trading_symbol for i in members],
    )
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    return _store(run, members, arrays, matches, forming=with_forming, ms=elapsed_ms, follow=follow)


def _rows_of(slug: str, screen: Screen) -> list:
    """Another screen's latest rows, for a `screener:SLUG` universe: only a screen the
    owner may see (shared, or theirs), whatever was saved."""
    if not visible_to(screen.owner_id).filter(slug=slug).exists():
        raise LookupError(f"no screen {slug!r} to take rows from")
    return latest_run_instruments(slug)


def mark_failed(run_id: int, why: str) -> None:
    """A queued run that could not finish (the task's last word)."""
    ScreenRun.objects.filter(pk=run_id, state=ScreenRun.State.QUEUED).update(
        state=ScreenRun.State.FAILED, error=why[:300], computed_at=timezone.now()
    )


def _fail(run: ScreenRun, why: str) -> ScreenRun:
    logger.warning("screen %s run %s failed: %s", run.screen.slug, run.pk, why)
    run.state, run.error, run.computed_at = ScreenRun.State.FAILED, why[:300], timezone.now()
    run.save(update_fields=["state", "error", "computed_at"])
    return run


def _store(
    run: ScreenRun,
    members: list,
    arrays: BarArrays,
    matches: list[Match],
    *,
    forming: bool,
    ms: int,
    follow: Follower | None,
) -> ScreenRun:
    screen = run.screen
    with transaction.atomic():
        fresh = ScreenRun.objects.select_for_update().get(pk=run.pk)
        if fresh.state != ScreenRun.State.QUEUED:  # another worker finished it meanwhile
            return fresh
        previous = latest_run(screen)
        before = _keys_in_order(previous) if previous else []
        now_keys = _write_rows(run, members, matches)
        run.entered = [k for k in now_keys if k not in set(before)]
        run.exited = [k for k in before if k not in set(now_keys)]
        run.state, run.computed_at, run.duration_ms = ScreenRun.State.DONE, timezone.now(), ms
        run.bars_as_of = _datetime(arrays.as_of())
        run.forming, run.universe_size, run.matched = forming, len(members), len(matches)
        run.save()
        notices = _notices(run) if run.entered else []
        changed = set(before) != set(now_keys)
        transaction.on_commit(lambda: _after_commit(run, notices, changed=changed, follow=follow))
    logger.info(
        "screen %s run %s: %d of %d matched, %d entered, %d left, %d ms",
        screen.slug, run.pk, run.matched, run.universe_size, len(run.entered), len(run.exited), ms,
    )  # fmt: skip
    return run


def _write_rows(run: ScreenRun, members: list, matches: list[Match]) -> list[str]:
    """The run's rows, in rank order; their keys."""
    ScreenRow.objects.bulk_create(
        ScreenRow(
            run=run,
            instrument=members[m.index],
            rank=rank,
            columns=m.columns,
            rank_value=m.rank_value,
            price=m.price,
        )
        for rank, m in enumerate(matches, start=1)
    )
    return [members[m.index].key for m in matches]


def _keys_in_order(run: ScreenRun) -> list[str]:
    rows = ScreenRow.objects.filter(run=run).select_related("instrument").order_by("rank")
    return [r.instrument.key for r in rows]


def _datetime(unix: int | None) -> datetime | None:
    return None if unix is None else datetime.fromtimestamp(unix, tz=UTC)


def _notices(run: ScreenRun) -> list[ScreenNotice]:
    """One notice per channel the screen's owner asked for (a shared screen has no owner:
    nobody to tell)."""
    screen = run.screen
    if not screen.notify or screen.owner_id is None:
        return []
    channels = [ScreenNotice.Channel.BROWSER]
    if screen.notify_email and screen.owner.email:
        channels.append(ScreenNotice.Channel.EMAIL)
    if screen.webhook_url:
        channels.append(ScreenNotice.Channel.WEBHOOK)
    return ScreenNotice.objects.bulk_create(ScreenNotice(run=run, channel=c) for c in channels)


def _after_commit(
    run: ScreenRun, notices: Iterable[ScreenNotice], *, changed: bool, follow: Follower | None
) -> None:
    from screeners.notify import dispatch

    dispatch(run, list(notices))
    if changed and follow is not None:
        try:
            follow(run.screen.slug)
        except Exception:  # the stream catches up at its next start; the run stands
            logger.exception("screen %s: its stream did not follow the new rows", run.screen.slug)
