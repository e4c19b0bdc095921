from django.contrib import admin

from orders.models import Order, OrderEvent


class EventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    fields = ["created_at", "kind", "status", "filled_qty", "reason", "source"]
    readonly_fields = fields
    can_delete = False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["order_no", "account", "symbol", "side", "quantity", "traded_qty", "status"]
    list_filter = ["status", "trade_date"]
    search_fields = ["order_no", "symbol", "account__client_id"]
    inlines = [EventInline]
    readonly_fields = ["fields"]
