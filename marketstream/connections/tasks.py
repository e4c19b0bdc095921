"""Celery tasks: thin wrappers over the connection registry and stream control."""

import logging

from celery import shared_task
from celery.worker.control import inspect_command

from marketstream.connections.control import supervise
from marketstream.connections.queue import START_TASK, start_finished
from marketstream.connections.records import record_refused
from marketstream.connections.registry import StreamStartError, hosted_registry

logger = logging.getLogger(__name__)


@shared_task(bind=True, name=START_TASK, ignore_result=True)
def start_stream_task(self, key: str) -> str:
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


@shared_task(name="marketstream.tasks.supervise_streams", ignore_result=True)
def supervise_streams() -> list[str]:
    """Beat, every 15 s: start the wanted streams that are not alive."""
    return supervise()


@inspect_command()
def stream_threads(state) -> dict[str, object]:
    """`celery inspect stream_threads`: the connection threads alive in this worker."""
    registry = hosted_registry(state.consumer.app)
    return {"keys": registry.active_keys(), "count": registry.active_stream_count()}
