"""What a kind of upstream connection must say about itself; everything else (the thread,
backoff, watchdog, control, heartbeat, locks and the connection budget) is written once in
this app. Kinds here: the market feed (`marketfeed.py`) and the depth socket (`depth.py`);
the orders app adds the order socket (`orders.orderfeed`). The project's runtime gives
each process's registry the factories of every kind (`marketstream.runtime`).

A kind's methods run in three places: `open`, `subscribe`, `unsubscribe`, `take` and
`collect` on the connection's event loop (never blocking: no database, no Redis);
`flush` on the connection's writer thread (blocking I/O is fine there).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from prices.calendar import market_is_open
from streams.models import Stream

MARKET_FEED_KIND = "market_feed"
DEPTH_KIND = "depth20"
ORDER_KIND = "order_updates"
# Kinds opened by a supervisor of their own while someone needs them (the depth socket while
# anyone watches depth): the supervision sweeps, which restart wanted streams, leave them be,
# and status shows such a row `idle` while nobody needs it (`health.py`).
ON_DEMAND_KINDS = frozenset({DEPTH_KIND})


class Upstream(Protocol):
    """An open socket as a kind opened it."""

    def frames(self) -> AsyncIterator[bytes | str]: ...

    async def close(self) -> None: ...


UpstreamT = TypeVar("UpstreamT", bound=Upstream)


class StartRefused(Exception):
    """A connection that cannot start as asked (bad instruments, no credentials, a limit):
    starting it again will not help until someone changes something."""


class ConnectionKind(ABC, Generic[UpstreamT]):
    """One upstream connection of some kind, for one Stream row, over the socket type its
    `open` returns. Subclass and register the subclass (a `KindFactory`) with the
    connection registry."""

    name: str = ""  # the Stream rows' `kind`

    def __init__(self, *, key: str, client_id: str, secret: str = "") -> None:
        self.key = key
        self.client_id = client_id  # whose connection budget this socket uses
        self.secret = secret  # redacted from every error this connection records
        self.items_received = 0  # what `take` decoded, for heartbeats and status
        self.malformed = 0  # frames `take` could not use

    def subjects(self) -> list[str]:
        """What the connection carries, as shown on its row (instrument keys, say)."""
        return []

    @abstractmethod
    async def open(self) -> UpstreamT:
        """Connect and authenticate. Raise a `dhan.errors.FeedError` subclass on failure."""

    async def subscribe(self, upstream: UpstreamT) -> None:
        """After every (re)connect: ask for everything this connection carries."""
        return None

    async def unsubscribe(self, upstream: UpstreamT) -> None:
        """Before a requested stop: what a polite client sends before it says goodbye."""
        return None

    @abstractmethod
    def take(self, frame: bytes | str) -> None:
        """One frame: decode it and keep what it carries for `collect`. Count what cannot be
        used in `self.malformed`; raise a FeedError when the frame ends the connection."""

    def collect(self) -> bool:
        """Every flush interval, on the loop: hand what `take` kept to the writer (no I/O).
        True when there is something to flush."""
        return False

    def flush(self) -> None:
        """On the writer thread: write what `collect` handed over. Raise on failure; the
        writer retries with backoff (the kind must keep what it could not write)."""
        return None

    def heartbeat(self) -> None:
        """On the bookkeeping thread, every heartbeat: anything besides the Stream row."""
        return None

    def control(self) -> str | None:
        """On the bookkeeping thread, every control check (a second): read what the kind
        follows (blocking I/O is fine); a reason to stop ends the connection."""
        return None

    async def maintain(self, upstream: UpstreamT) -> None:
        """On the loop, every idle interval while connected: act on what `control` found
        (subscribe and unsubscribe as watchers come and go)."""
        return None

    def expects_frames(self) -> bool:
        """False while silence is normal (nothing subscribed): the watchdog waits."""
        return True

    def close(self) -> None:
        """As the connection's thread ends: release what the kind holds of its own."""
        return None

    def ended(self, error: Exception | None) -> None:
        """As the connection's thread ends (on it: blocking is fine), with the error that
        ended it for good, if one did (an order socket marks its token expired)."""
        return None


@dataclass(frozen=True, slots=True)
class KindFactory:
    """How the registry builds a kind for a Stream row (`build` raises StartRefused), and
    when connections of the kind run (they stop themselves when `in_hours` turns false)."""

    name: str
    build: Callable[[Stream], ConnectionKind]
    in_hours: Callable[[], bool] = market_is_open
