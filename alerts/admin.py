from django.contrib import admin

from alerts.models import Alert, AlertEvent, ApiToken


class EventInline(admin.TabularInline):
    model = AlertEvent
    extra = 0
    fields = ["triggered_at", "previous_price", "price", "webhook", "attempts"]
    readonly_fields = fields
    can_delete = False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["key", "condition", "value", "frequency", "status", "user", "fire_count"]
    list_filter = ["status", "condition", "frequency"]
    search_fields = ["key", "user__username", "note"]
    exclude = ["webhook_secret_encrypted"]  # never shown; set it through the API or page
    readonly_fields = ["created_price", "last_fired_at", "fire_count"]
    inlines = [EventInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "created_at", "last_used_at"]
    readonly_fields = ["user", "digest", "created_at", "last_used_at"]
