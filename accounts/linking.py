"""A broker token is checked with DhanHQ before it is stored, so a guessed token never gets
an order socket: one REST call (`GET /v2/profile`, `dhan.rest.DhanRest.check_token`)
through the deployment's REST gate for that client id. A user whose checks DhanHQ refuses
BROKER_LINK_FAILURE_RATE times (django-ratelimit's `N/period`, counted in Django's cache:
Redis in the full stack, so every process counts together) is refused without a call until
the period ends. Callers: the link and replace-token forms (the page and the admin) and
`manage.py add_broker_account`.

Once an account is saved with its token, the same callers ask for its order socket
(`want_order_stream`: wanted while the token is good, started in the order feed's hours by
the stream layer's supervision step); deleting an account drops it (`drop_order_stream`).
"""

from __future__ import annotations

import logging
import math
from contextlib import closing

import redis
from django.conf import settings
from django.db import DatabaseError, transaction
from django_ratelimit.core import get_usage
from django_redis.exceptions import ConnectionInterrupted
from kombu.exceptions import OperationalError as BrokerError

from accounts.models import BrokerAccount
from dhan.rest import DhanBusy, DhanRest, DhanUnreachable, TokenRefused
from prices.rest import CacheRateGate
from streams.control import forget_stream, want_stream
from streams.keys import order_stream_key
from streams.kinds import ORDER_KIND

logger = logging.getLogger(__name__)

FAILURE_GROUP = "broker-link-failures"
SECONDS_PER_MINUTE = 60


class LinkRefused(Exception):
    """The token was not stored; the message says why in words a user can act on, and
    never carries the token."""


def check_token(*, actor_id: int, client_id: str, token: str) -> None:
    """Called before a broker token is stored (linking an account or replacing its
    token), by user `actor_id`. Returns when DhanHQ accepts `token` for `client_id`;
    raises LinkRefused otherwise, or at once when the user failed too often."""
    wait = _throttled_for(actor_id)
    if wait is not None:
        minutes = math.ceil(wait / SECONDS_PER_MINUTE)
        raise LinkRefused(
            f"Too many refused tokens: try again in {minutes} minute{'s' * (minutes > 1)}."
        )
    try:
        _ask_dhanhq(client_id=client_id, token=token)
    except TokenRefused as exc:
        _count_failure(actor_id)
        logger.warning(
            "DhanHQ refused a token for client %s (user %s): %s", client_id, actor_id, exc
        )
        raise LinkRefused(
            f"DhanHQ refused this token for client {client_id}: check it and try again."
        ) from None
    except DhanBusy:
        raise LinkRefused(
            "DhanHQ is at its rate limit for this client id: nothing was saved; try again "
            "in a few seconds."
        ) from None
    except DhanUnreachable as exc:
        logger.warning("token check for client %s not done: %s", client_id, exc)
        raise LinkRefused(
            "DhanHQ could not be reached to check the token: nothing was saved; try again later."
        ) from None


def _ask_dhanhq(*, client_id: str, token: str) -> None:
    """One `GET /v2/profile` through the deployment's REST gate for `client_id`."""
    client = DhanRest(
        base_url=settings.DHANHQ_API_URL,
        client_id=client_id,
        access_token=token,
        gate=CacheRateGate(client_id),
    )
    with closing(client):
        client.check_token()


def _usage(actor_id: int, *, increment: bool) -> dict | None:
    """django-ratelimit's count of the user's refused tokens in this period. No request:
    the command has none, and the key is the user alone."""
    rate = settings.BROKER_LINK_FAILURE_RATE
    if not rate:
        return None
    return get_usage(
        None,
        group=FAILURE_GROUP,
        key=lambda group, request: f"user:{actor_id}",
        rate=rate,
        increment=increment,
    )


def _throttled_for(actor_id: int) -> int | None:
    """Seconds until user `actor_id` may try again, or None. The cache unreachable: the
    REST gate is shut too, so say to wait rather than guess."""
    try:
        usage = _usage(actor_id, increment=False)
    except (redis.RedisError, ConnectionInterrupted):
        return SECONDS_PER_MINUTE
    if usage is None:
        return None
    if usage["time_left"] < 0:  # django-ratelimit could not read the count
        return SECONDS_PER_MINUTE
    if usage["count"] >= usage["limit"]:
        return max(1, usage["time_left"])
    return None


def _count_failure(actor_id: int) -> None:
    try:
        _usage(actor_id, increment=True)
    except (redis.RedisError, ConnectionInterrupted):
        logger.warning("a refused token for user %s was not counted: the cache is down", actor_id)


def want_order_stream(account: BrokerAccount) -> None:
    """Called after `account` is saved with a (new) token, by the link and replace-token
    pages, the admin and `add_broker_account`: its order socket is wanted while its token
    is good. After the save commits (a worker must find the account, and its token, as
    saved); a hiccup there leaves the account saved and the supervision step catches up."""

    def want() -> None:
        try:
            want_stream(
                order_stream_key(account.pk),
                kind=ORDER_KIND,
                mode="orders",
                wanted=account.status == BrokerAccount.Status.ACTIVE,
            )
        except (DatabaseError, BrokerError, redis.RedisError) as exc:
            logger.warning("order stream of account %s not updated: %s", account.pk, exc)

    transaction.on_commit(want)


def drop_order_stream(account_id: int) -> None:
    """Called after a broker account is deleted (the admin): its order socket stops,
    wherever it runs, and its row goes."""
    forget_stream(order_stream_key(account_id))
