"""Celery tasks: thin wrappers over the connection registry and the supervision step. Their
names start `streams.` (routed to the `streams` queue by settings.CELERY_TASK_ROUTES)."""

import logging

from celery import Task, shared_task
from celery.utils.collections import AttributeDict
from celery.worker.control import inspect_command

from streams.queue import START_TASK, start_finished
from streams.records import record_refused
from streams.registry import StreamStartError, hosted_registry
from streams.supervision import supervise

logger = logging.getLogger(__name__)

SUPERVISE_TASK = "streams.supervise_streams"


@shared_task(bind=True, name=START_TASK, ignore_result=True)
def start_stream_task(self: Task, key: str) -> str:
    """Queued by `queue.enqueue_start`: start the connection for `key` in this worker and
    return at once (the connection runs on its own thread)."""
    try:
        outcome = hosted_registry(self.app).start(key)
    except StreamStartError as exc:
        logger.error("stream %s not started: %s", key, exc)
        record_refused(key, str(exc))
        return str(exc)
    finally:
        start_finished(key)
    logger.info("stream %s: %s", key, outcome.message)
    return outcome.message


@shared_task(name=SUPERVISE_TASK, ignore_result=True)
def supervise_streams() -> list[str]:
    """Beat, every 15 s: the supervision step (queue the wanted streams that are not alive)."""
    return supervise().started


@inspect_command()
def stream_threads(state: AttributeDict) -> dict[str, object]:
    """`celery inspect stream_threads`: the connection threads alive in this worker."""
    registry = hosted_registry(state.consumer.app)
    return {"keys": registry.active_keys(), "count": registry.active_stream_count()}
