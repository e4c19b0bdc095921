"""The Celery app. Stream tasks go to the `streams` queue, served by a thread pool:
celery -A marketstream worker -Q streams,celery -P threads -c 8
"""

import os

from celery import Celery
from celery.signals import worker_shutdown, worker_shutting_down

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketstream.settings")

app = Celery("marketstream")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["marketstream"])


@worker_shutting_down.connect
def _stop_feeds_on_shutdown(**kwargs: object) -> None:
    """SIGTERM (warm shutdown): ask every feed thread of this worker to stop now..."""
    from marketstream.supervisor import supervisor

    supervisor.request_stop_all(reason="worker shutdown")


@worker_shutdown.connect
def _join_feeds_on_shutdown(**kwargs: object) -> None:
    """...and wait for them, so no thread, socket or lock outlives the worker."""
    from marketstream.supervisor import supervisor

    supervisor.stop_all_streams(reason="worker shutdown")
