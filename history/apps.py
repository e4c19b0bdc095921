from django.apps import AppConfig


class HistoryConfig(AppConfig):
    name = "history"
    verbose_name = "Price history"

    def ready(self) -> None:
        from history import snapshots
        from prices.subscriptions import CANDLE_SNAPSHOTS

        CANDLE_SNAPSHOTS.register(snapshots.read)
