from django.apps import AppConfig


class MarketstreamConfig(AppConfig):
    name = "marketstream"
    verbose_name = "Market streams"

    def ready(self) -> None:
        """Registers the Celery tasks in every process, so control functions find the
        start task by name (`connections.queue`); starts nothing."""
        from marketstream.connections import tasks  # noqa: F401
