"""`AlertService` in the full stack (a real redis-server): of two evaluators one leads,
holding `market_stream:alerts:evaluator`; a clean stop hands the lead over before the lock
could lapse; an evaluator whose lock was taken stops leading (said in the log, not as a
failure) and leads again once the lock is free."""

from __future__ import annotations

import logging
import os
import time

import pytest
import redis

from alerts.service import LEADER_KEY, LEADER_TTL_SECONDS, REFRESH_SECONDS, AlertService
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
LEAD_WAIT_SECONDS = 15.0  # a polling bound: a free lease is taken within a standby's retry
# Released on a clean stop, the lock is free at once; left to lapse, it would be free no
# sooner than this after the stop (its TTL less the time since its last renewal).
BEFORE_LAPSE_SECONDS = LEADER_TTL_SECONDS - REFRESH_SECONDS - 1


@pytest.fixture
def shared(settings, redis_url) -> redis.Redis:
    settings.REDIS_URL = redis_url
    settings.MARKETSTREAM_ALERT_EVALUATOR = True
    return redis.Redis.from_url(redis_url)


def holder_pid(client: redis.Redis) -> int | None:
    value = client.get(LEADER_KEY)  # "host:pid:uuid"
    return int(value.decode().split(":")[1]) if value is not None else None


def test_of_two_evaluators_one_leads_and_a_clean_stop_hands_the_lead_over_at_once(shared):
    first, second = AlertService(), AlertService()
    try:
        first.start()
        assert first.leading.wait(LEAD_WAIT_SECONDS)
        assert holder_pid(shared) == os.getpid()
        second.start()
        time.sleep(2 * REFRESH_SECONDS)  # the leader renews meanwhile: the standby waits
        assert not second.leading.is_set()
        first.stop()
        assert not first.is_alive() and not first.leading.is_set()
        assert second.leading.wait(BEFORE_LAPSE_SECONDS)  # the stop released the lock
    finally:
        first.stop()
        second.stop()
    assert holder_pid(shared) is None  # the last one released it too


def test_an_evaluator_whose_lock_was_taken_stops_leading_and_leads_again_once_free(shared, caplog):
    service = AlertService()
    try:
        service.start()
        assert service.leading.wait(LEAD_WAIT_SECONDS)
        # Its lock lapsed (a long pause) and another process took it.
        shared.set(LEADER_KEY, "elsewhere:1:x", px=int(LEADER_TTL_SECONDS * 1000))
        wait_until(lambda: not service.leading.is_set(), what="the evaluator to stand by")
        assert shared.get(LEADER_KEY) == b"elsewhere:1:x"  # its release left the new lock
        shared.delete(LEADER_KEY)  # the other evaluator stopped cleanly
        assert service.leading.wait(LEAD_WAIT_SECONDS)
    finally:
        service.stop()
    lost = [r for r in caplog.records if r.getMessage() == "alert evaluator lost its lead"]
    assert len(lost) == 1 and lost[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if r.name == "prices.loops"]  # no turn failed
