from django.contrib import admin

from prices.models import Instrument


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = (
        "trading_symbol",
        "exchange_segment",
        "security_id",
        "name",
        "tick_size",
        "lot_size",
        "series",
    )
    list_filter = ("exchange_segment", "instrument_type")
    search_fields = ("trading_symbol", "name", "=security_id")
