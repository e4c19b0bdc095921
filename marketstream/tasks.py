"""Celery tasks: thin wrappers over the supervisor and stream control."""

import logging

from celery import shared_task
from celery.worker.control import inspect_command

from marketstream.models import Stream
from marketstream.streams import supervise
from marketstream.supervisor import StreamStartError, supervisor

logger = logging.getLogger(__name__)


@shared_task(name="marketstream.tasks.start_stream_task", ignore_result=True)
def start_stream_task(key: str) -> str:
    """Start the feed thread for `key` in this worker and return at once."""
    try:
        outcome = supervisor.start(key)
    except StreamStartError as exc:
        logger.error("stream %s not started: %s", key, exc)
        Stream.objects.filter(key=key).update(state=Stream.State.ERROR, last_error=str(exc))
        return str(exc)
    logger.info("stream %s: %s", key, outcome.message)
    return outcome.message


@shared_task(name="marketstream.tasks.supervise_streams", ignore_result=True)
def supervise_streams() -> list[str]:
    return supervise()


@inspect_command()
def stream_threads(state: object) -> dict[str, object]:
    """`celery inspect stream_threads`: the feed threads alive in this worker."""
    return {"keys": supervisor.active_keys(), "count": supervisor.active_stream_count()}
