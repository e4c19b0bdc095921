"""Which order sockets are wanted: one per broker account whose token is good. Linking an
account or replacing its token wants its stream (and enqueues a start during the order
feed's hours); an expired token or a deleted account stops it. Connected to the
account's save and delete signals by `marketstream.apps`."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, transaction

from accounts.models import BrokerAccount
from marketstream.connections.kinds import ORDER_KIND
from marketstream.connections.orderfeed import order_stream_key
from marketstream.connections.queue import enqueue_start
from marketstream.models import Stream
from prices.calendar import order_feed_is_open

logger = logging.getLogger(__name__)


def want_order_stream(account: BrokerAccount) -> Stream:
    wanted = account.status == BrokerAccount.Status.ACTIVE
    stream, _ = Stream.objects.update_or_create(
        key=order_stream_key(account.pk),
        defaults={
            "kind": ORDER_KIND,
            "mode": "orders",
            "instruments": [],
            "desired_state": Stream.Desired.RUNNING if wanted else Stream.Desired.STOPPED,
        },
    )
    # Embedded mode has no worker to take a start: the web process's supervision starts
    # it within seconds (a command's own process would not outlive it).
    if wanted and order_feed_is_open() and settings.REDIS_URL:
        enqueue_start(stream.key)
    return stream


def on_account_saved(sender, instance: BrokerAccount, **kwargs) -> None:
    """After the save commits (a worker must find the account, and its token, as saved)."""

    def want() -> None:
        try:
            want_order_stream(instance)
        except DatabaseError as exc:  # the account is saved; supervision catches up
            logger.warning("order stream of account %s not updated: %s", instance.pk, exc)

    transaction.on_commit(want)


def on_account_deleted(sender, instance: BrokerAccount, **kwargs) -> None:
    Stream.objects.filter(key=order_stream_key(instance.pk)).delete()  # its thread stops
