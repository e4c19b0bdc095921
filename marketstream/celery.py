"""The Celery app. Stream tasks go to the `streams` queue, served by a thread pool:
    celery -A marketstream worker -Q streams,celery -P threads -c 8
A worker's runtime (`marketstream.runtime.WorkerRuntime`) is made as it starts and hosts
the connections; on warm shutdown (SIGTERM, a deploy) it hands them all over to the other
workers, or to the next worker to start.
"""

import os

from celery import Celery
from celery.signals import worker_init, worker_shutdown, worker_shutting_down

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketstream.settings")

app = Celery("marketstream")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["streams", "alerts", "portfolio", "history", "screeners"])

_RUNTIME = "marketstream_runtime"  # the worker's runtime, on the app it runs


@worker_init.connect
def _start_runtime(**kwargs: object) -> None:
    """The worker process starts: make its runtime."""
    from marketstream.runtime import WorkerRuntime  # needs Django set up, which the worker does

    runtime = WorkerRuntime(app)
    runtime.start()
    setattr(app, _RUNTIME, runtime)


@worker_shutting_down.connect
def _stop_connections_on_shutdown(**kwargs: object) -> None:
    """SIGTERM (warm shutdown): every connection of this worker hands its stream over now..."""
    runtime = getattr(app, _RUNTIME, None)
    if runtime is not None:
        runtime.request_stop()


@worker_shutdown.connect
def _join_connections_on_shutdown(**kwargs: object) -> None:
    """...and wait for them, so no thread, socket or lock outlives the worker."""
    runtime = getattr(app, _RUNTIME, None)
    if runtime is not None:
        runtime.stop()
