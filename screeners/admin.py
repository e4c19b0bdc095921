"""The screens in the admin: staff edit the shared ones and run any screen now (the
"Run now" action queues a run, as the API does); runs are shown read-only with their rows,
entrants and the notices sent about them."""

from django.contrib import admin, messages
from django.db import transaction

from screeners.models import Screen, ScreenNotice, ScreenRow, ScreenRun
from screeners.runs import request_run


@admin.register(Screen)
class ScreenAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "owner", "universe", "timeframe", "schedule", "updated_at")
    list_filter = ("schedule", "timeframe")
    search_fields = ("slug", "name", "owner__username")
    exclude = ("webhook_secret_encrypted",)  # never shown; set through the API or editor
    actions = ("run_now",)

    @admin.action(description="Run now")
    def run_now(self, request, queryset) -> None:
        with transaction.atomic():
            for screen in queryset:
                request_run(screen)
        self.message_user(request, f"{queryset.count()} run(s) queued", messages.SUCCESS)


class ScreenRowInline(admin.TabularInline):
    model = ScreenRow
    raw_id_fields = ("instrument",)
    readonly_fields = ("instrument", "rank", "columns", "rank_value", "price")
    extra = 0
    can_delete = False


class ScreenNoticeInline(admin.TabularInline):
    model = ScreenNotice
    readonly_fields = ("channel", "event_id", "state", "attempts", "created_at")
    extra = 0
    can_delete = False


@admin.register(ScreenRun)
class ScreenRunAdmin(admin.ModelAdmin):
    list_display = ("screen", "trigger", "state", "computed_at", "matched", "duration_ms")
    list_filter = ("state", "trigger", "screen")
    readonly_fields = [f.name for f in ScreenRun._meta.fields]
    inlines = (ScreenRowInline, ScreenNoticeInline)

    def has_add_permission(self, request) -> bool:
        return False
