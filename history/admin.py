"""The history app's admin: a "Backfill history" action on the instrument list (prices'
InstrumentAdmin, extended here, a layer above it) that queues `history.backfill` for the
selected instruments, and the bar store read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from dhan.clock import ist_datetime
from history.models import Bar
from history.tasks import backfill_task
from history.timeframes import DAY, MINUTE
from prices.admin import InstrumentAdmin as PricesInstrumentAdmin
from prices.models import Instrument

admin.site.unregister(Instrument)


@admin.register(Instrument)
class InstrumentAdmin(PricesInstrumentAdmin):
    actions = ["backfill_history"]

    @admin.action(description="Backfill history (daily bars for a year, 1-minute bars)")
    def backfill_history(self, request: HttpRequest, queryset: QuerySet[Instrument]) -> None:
        """Queues a daily and a 1-minute backfill of the selected instruments (a worker
        runs them within the Data API limit; a re-run fetches only what is missing)."""
        keys = [i.key for i in queryset]
        for timeframe in (DAY, MINUTE):
            backfill_task.delay(timeframe=timeframe, keys=keys)
        self.message_user(
            request,
            f"Queued a history backfill of {len(keys)} instruments: daily bars for a year, "
            "then 1-minute bars for the retention period.",
            messages.SUCCESS,
        )


@admin.register(Bar)
class BarAdmin(admin.ModelAdmin):
    """Stored bars, to look at: they are written by the feed, backfills and the
    after-close job only."""

    list_display = ("key", "timeframe", "start_ist", "open", "high", "low", "close", "volume")
    list_filter = ("timeframe",)
    search_fields = ("=key",)
    ordering = ("key", "timeframe", "-start")
    show_full_result_count = False  # a count of millions of rows, on every page

    @admin.display(description="start (IST)", ordering="start")
    def start_ist(self, bar: Bar) -> str:
        return ist_datetime(bar.start).strftime("%Y-%m-%d %H:%M")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Bar | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Bar | None = None) -> bool:
        return False
