from django.apps import AppConfig


class MarketstreamConfig(AppConfig):
    name = "marketstream"
    verbose_name = "Market streams"
