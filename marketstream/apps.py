from django.apps import AppConfig


class MarketstreamConfig(AppConfig):
    name = "marketstream"
    verbose_name = "MarketStream"

    def ready(self) -> None:
        """The project's wiring, as the apps load, in every process (web, worker, commands):
        the stream layer learns the screener types and where their instruments come from
        (each type's latest run). Starts nothing; connects no signal."""
        from screeners.models import ScreenerType, latest_run_instruments
        from streams.sources import register_source

        register_source(ScreenerType.values, latest_run_instruments)
