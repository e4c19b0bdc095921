from django.apps import AppConfig


class MarketstreamConfig(AppConfig):
    name = "marketstream"
    verbose_name = "MarketStream"

    def ready(self) -> None:
        """The project's wiring, as the apps load, in every process (web, worker, commands):
        the stream layer learns the screens (shipped and users') and where their
        instruments come from (each screen's latest run); history's backfill learns a
        screen's rows, and its after-close job the streams' instruments. Starts nothing;
        connects no signal."""
        from history.afterclose import register_stream_keys
        from history.backfillplan import register_screener_source
        from screeners.models import latest_run_instruments, screen_exists
        from screeners.shipped import SHARED
        from streams.sources import register_open_source, register_source

        register_source([s["slug"] for s in SHARED], latest_run_instruments)
        register_open_source(screen_exists, latest_run_instruments)  # users' screens
        register_screener_source(latest_run_instruments)
        register_stream_keys(streamed_keys)


def streamed_keys() -> list[str]:
    """Every market-feed stream's instrument keys (the after-close job's day bars)."""
    from streams.models import Stream

    rows = Stream.objects.filter(kind="market_feed").values_list("instruments", flat=True)
    return sorted({key for keys in rows for key in keys})
