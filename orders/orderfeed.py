"""The order-update connection kind: one DhanHQ live order socket per linked broker
account (Stream row `orders:<account id>`, `streams.keys.order_stream_key`), logged in with
the account's token, running from ORDER_FEED_START to ORDER_FEED_END IST on trading days.
Every (re)connect syncs the day's order book through REST, so nothing that happened while
it was away is lost; `orders.ingest` drops what it heard already. New events go to their
owner's browsers (`orders.push`), and a fill calls `on_fill(account id)`: the project's
runtime, which registers this kind with each process's registry, makes it refresh the
account's portfolio (`marketstream.runtime`; the orders app does not know that app).

Account linking wants the socket while the token is good (`accounts.linking`). A refused
login marks the account "token expired" and ends the connection until the user replaces
the token; an account deleted under a running socket (with its user, say) ends it and
drops its row, and a start finds no account to log in with and drops it too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings

from accounts.crypto import TokenUnreadable
from accounts.models import BrokerAccount
from dhan.client import FeedCredentials
from dhan.errors import FeedAuthError
from dhan.orderclient import OrderUpdateConnection, todays_order_book
from dhan.orders import LoginRefused, OrderAlert, OrderMessageError, alert_from_rest, parse_message
from orders.ingest import record_all
from orders.push import announce
from prices.calendar import order_feed_is_open
from streams.control import forget_stream
from streams.keys import ORDER_KEY_PREFIX
from streams.kinds import ORDER_KIND, ConnectionKind, KindFactory, StartRefused
from streams.models import Stream

logger = logging.getLogger(__name__)

ACCOUNT_CHECK_SECONDS = 5.0  # how often a running socket checks its account still exists
FILL_KINDS = frozenset({"traded", "partial_fill"})  # events that change a portfolio

OnFill = Callable[[int], object]  # called with the broker account's id after a fill


class OrderUpdatesKind(ConnectionKind):
    name = ORDER_KIND

    def __init__(
        self,
        *,
        key: str,
        account: BrokerAccount,
        credentials: FeedCredentials,
        on_fill: OnFill,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(key=key, client_id=credentials.client_id, secret=credentials.access_token)
        self.account = account
        self._credentials = credentials
        self._on_fill = on_fill
        self._clock = clock
        self._account_checked: float | None = None  # the first control check looks
        self._taken: list[OrderAlert] = []  # the loop's
        self._lock = threading.Lock()
        self._handed: list[OrderAlert] = []  # for the writer
        # Every (re)connect wants a REST sync; the writer does them (the latest covers all).
        self._syncs_wanted = 0
        self._syncs_done = 0  # the writer's

    def subjects(self) -> list[str]:
        return [f"account {self.account.client_id}"]

    async def open(self) -> OrderUpdateConnection:
        conn = OrderUpdateConnection(self._credentials)
        await conn.connect()
        return conn

    async def subscribe(self, upstream: OrderUpdateConnection) -> None:
        with self._lock:  # logged in (again): fetch what may have happened meanwhile
            self._syncs_wanted += 1

    def expects_frames(self) -> bool:
        return False  # quiet for hours when nobody trades; pings keep the socket honest

    def take(self, frame: bytes | str) -> None:
        try:
            alert = parse_message(frame)
        except LoginRefused as exc:
            raise FeedAuthError(str(exc)) from None
        except OrderMessageError as exc:
            self.malformed += 1
            logger.warning("%s: order message skipped: %s", self.key, exc)
            return
        if alert is not None:
            self._taken.append(alert)
            self.items_received += 1

    def collect(self) -> bool:
        taken, self._taken = self._taken, []
        with self._lock:
            self._handed.extend(taken)
            return bool(self._handed) or self._syncs_done < self._syncs_wanted

    def flush(self) -> None:
        """On the writer thread: what the socket said, then the REST sync when one is due
        (a failing REST call never holds the socket's events back; the writer retries)."""
        with self._lock:
            alerts, syncs_wanted = list(self._handed), self._syncs_wanted
        self._announce(record_all(self.account, alerts, source="socket"))
        with self._lock:
            del self._handed[: len(alerts)]
        if self._syncs_done < syncs_wanted:
            rows = todays_order_book(
                base_url=settings.DHANHQ_API_URL,
                client_id=self._credentials.client_id,
                access_token=self._credentials.access_token,
            )
            alerts = [alert_from_rest(row) for row in rows]
            self._announce(record_all(self.account, alerts, source="rest"))
            self._syncs_done = syncs_wanted

    def _announce(self, events: list) -> None:
        """To the owner's browsers; and a fill changes the account's portfolio."""
        announce(events)
        if any(e.kind in FILL_KINDS for e in events):
            self._on_fill(self.account.pk)

    def control(self) -> str | None:
        """On the bookkeeping thread: an account deleted meanwhile ends its socket (its
        events would have no account to be stored under) and drops its row."""
        now = self._clock()
        checked = self._account_checked
        if checked is not None and now - checked < ACCOUNT_CHECK_SECONDS:
            return None
        self._account_checked = now
        if BrokerAccount.objects.filter(pk=self.account.pk).exists():
            return None
        forget_stream(self.key)
        return "account deleted"

    def ended(self, error: Exception | None) -> None:
        if isinstance(error, FeedAuthError):
            BrokerAccount.objects.filter(pk=self.account.pk).update(
                status=BrokerAccount.Status.TOKEN_EXPIRED, status_detail=str(error)[:200]
            )
            logger.warning("%s: token expired or invalid; not retrying", self.key)


def _account(stream: Stream) -> BrokerAccount:
    try:
        account_id = int(stream.key.removeprefix(ORDER_KEY_PREFIX))
    except ValueError:
        raise StartRefused(f"no broker account for {stream.key!r}") from None
    try:
        return BrokerAccount.objects.get(pk=account_id)
    except BrokerAccount.DoesNotExist:
        forget_stream(stream.key)  # nobody will want it again: supervision forgets it too
        raise StartRefused(f"no broker account for {stream.key!r}: its row is dropped") from None


def order_updates_factory(
    *, on_fill: OnFill, clock: Callable[[], float] = time.monotonic
) -> KindFactory:
    """The order socket's factory, for the registry of every process that hosts
    connections (`marketstream.runtime`); `on_fill` is told the account of every fill,
    `clock` paces the account checks."""

    def build(stream: Stream) -> OrderUpdatesKind:
        account = _account(stream)
        if account.token_expired:
            raise StartRefused("the account's token has expired: replace it")
        try:
            token = account.token
        except TokenUnreadable as exc:
            raise StartRefused(f"the account's token cannot be read: {exc}") from None
        return OrderUpdatesKind(
            key=stream.key,
            account=account,
            credentials=FeedCredentials(settings.DHANHQ_ORDER_FEED_URL, account.client_id, token),
            on_fill=on_fill,
            clock=clock,
        )

    return KindFactory(name=ORDER_KIND, build=build, in_hours=order_feed_is_open)
