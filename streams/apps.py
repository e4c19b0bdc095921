from django.apps import AppConfig


class StreamsConfig(AppConfig):
    name = "streams"
    verbose_name = "Market streams"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Registers the stream tasks in every process, so control functions find the start
        task by name (`streams.queue`); starts nothing."""
        from streams import tasks  # noqa: F401
