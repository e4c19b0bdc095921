from django.contrib import admin

from screeners.models import ScreenerResult, ScreenerRun


class ScreenerResultInline(admin.TabularInline):
    model = ScreenerResult
    raw_id_fields = ("instrument",)
    extra = 0


@admin.register(ScreenerRun)
class ScreenerRunAdmin(admin.ModelAdmin):
    list_display = ("screener_type", "computed_at", "notes")
    list_filter = ("screener_type",)
    inlines = (ScreenerResultInline,)
