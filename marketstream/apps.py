from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class MarketstreamConfig(AppConfig):
    name = "marketstream"
    verbose_name = "Market streams"

    def ready(self) -> None:
        """Registers the Celery tasks in every process, so control functions find the
        start task by name (`connections.queue`), and ties each broker account to its
        order socket's stream row; starts nothing."""
        from accounts.models import BrokerAccount
        from marketstream.connections import orderstreams, tasks  # noqa: F401

        post_save.connect(orderstreams.on_account_saved, sender=BrokerAccount)
        post_delete.connect(orderstreams.on_account_deleted, sender=BrokerAccount)
