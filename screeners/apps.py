from django.apps import AppConfig


class ScreenersConfig(AppConfig):
    name = "screeners"
    verbose_name = "Screeners"
