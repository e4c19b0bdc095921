"""Stream control in the Django admin: list, start, stop, restart, stop all."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from prices.calendar import coverage_warning
from streams.control import (
    allow_on_demand,
    request_restart,
    request_start,
    request_stop,
    request_stop_all,
)
from streams.health import shown_states
from streams.keys import StreamKeyError, parse_stream_key
from streams.kinds import ON_DEMAND_KINDS
from streams.models import Stream


@admin.register(Stream)
class StreamAdmin(admin.ModelAdmin):
    change_list_template = "admin/streams/stream/change_list.html"
    list_display = (
        "key",
        "shown_state",
        "desired_state",
        "instrument_count",
        "heartbeat_age",
        "ticks_received",
        "reconnects",
        "malformed_frames",
        "worker",
        "short_error",
    )
    list_filter = ("state", "desired_state", "kind", "screener_type", "mode")
    search_fields = ("key",)
    readonly_fields = [f.name for f in Stream._meta.fields]
    actions = ("start_streams", "stop_streams", "restart_streams")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The list, with a warning when the holiday calendar does not cover this year."""
        warning = coverage_warning()
        if warning:
            self.message_user(request, warning, messages.WARNING)
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # streams are created by start_stream, the pages and this list's actions

    @admin.display(description="state", ordering="state")
    def shown_state(self, stream: Stream) -> str:
        """`worker_gone` for a row that says live while its worker stopped renewing its lock,
        `idle` for the depth socket while nobody watches depth."""
        return shown_states([stream])[stream.key]

    @admin.display(description="heartbeat age")
    def heartbeat_age(self, stream: Stream) -> str:
        if stream.last_heartbeat is None:
            return "-"
        return f"{(timezone.now() - stream.last_heartbeat).total_seconds():.0f} s"

    @admin.display(description="worker")
    def worker(self, stream: Stream) -> str:
        return f"{stream.worker_host}:{stream.worker_pid}" if stream.worker_pid else "-"

    @admin.display(description="last error")
    def short_error(self, stream: Stream) -> str:
        error = stream.last_error
        return error[:80] + "..." if len(error) > 80 else error

    @admin.action(description="Start selected streams")
    def start_streams(self, request: HttpRequest, queryset: QuerySet[Stream]) -> None:
        for stream in queryset:
            if stream.kind in ON_DEMAND_KINDS:  # the depth socket: opened while watched
                self.message_user(request, f"{stream.key}: {allow_on_demand(stream.key)}")
                continue
            try:
                _, message = request_start(spec=parse_stream_key(stream.key), mode=stream.mode)
            except (StreamKeyError, ValueError) as exc:
                self.message_user(request, f"{stream.key}: {exc}", messages.ERROR)
                continue
            self.message_user(request, f"{stream.key}: {message}")

    @admin.action(description="Stop selected streams")
    def stop_streams(self, request: HttpRequest, queryset: QuerySet[Stream]) -> None:
        for stream in queryset:
            request_stop(stream.key)
        self.message_user(request, f"stop requested for {queryset.count()} streams")

    @admin.action(description="Restart selected streams")
    def restart_streams(self, request: HttpRequest, queryset: QuerySet[Stream]) -> None:
        for stream in queryset:
            self.message_user(request, f"{stream.key}: {request_restart(stream.key)}")

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "stop-all/",
                self.admin_site.admin_view(self.stop_all_view),
                name="streams_stream_stop_all",
            )
        ] + super().get_urls()

    def stop_all_view(self, request: HttpRequest) -> HttpResponseRedirect:
        if request.method == "POST" and self.has_change_permission(request):
            self.message_user(request, f"stop requested for {request_stop_all()} streams")
        return HttpResponseRedirect(reverse("admin:streams_stream_changelist"))
