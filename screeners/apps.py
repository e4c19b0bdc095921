from django.apps import AppConfig


class ScreenersConfig(AppConfig):
    name = "screeners"

    def ready(self) -> None:
        """The screens' Celery tasks registered in every process: the runner and the
        notices queue them by name (`current_app.tasks[...]`), which must know them."""
        from screeners import tasks  # noqa: F401
