"""The Celery app. Stream tasks go to the `streams` queue, served by a thread pool:
    celery -A marketstream worker -Q streams,celery -P threads -c 8
A worker's runtime (`marketstream.runtime.WorkerRuntime`) is made as it starts and hosts
the connections; it stops them all on warm shutdown (SIGTERM).
"""

import os

from celery import Celery
from celery.signals import worker_init, worker_shutdown, worker_shutting_down

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketstream.settings")

app = Celery("marketstream")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["marketstream.connections", "alerts", "portfolio"])

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
    """SIGTERM (warm shutdown): ask every connection of this worker to stop now..."""
    runtime = getattr(app, _RUNTIME, None)
    if runtime is not None:
        runtime.request_stop(reason="worker shutdown")


@worker_shutdown.connect
def _join_connections_on_shutdown(**kwargs: object) -> None:
    """...and wait for them, so no thread, socket or lock outlives the worker."""
    runtime = getattr(app, _RUNTIME, None)
    if runtime is not None:
        runtime.stop(reason="worker shutdown")
