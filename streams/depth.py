"""The 20-level depth connection kind: ONE DhanHQ depth socket for the deployment (Stream
row `depth20`), subscribed to what clients anywhere watch in depth mode (at most 50
instruments, NSE_EQ and NSE_FNO only), opened by `DepthSupervisor` when the first watcher
appears and closed `DEPTH_IDLE_SECONDS` after the last one leaves. It counts in the client
id's connection budget like a market feed (the registry's locks).

Its books go to `depth20:SEG:SID` (short TTL, rewritten every second while connected) and
to the broadcaster, which prefers them to full mode's 5 levels; without the socket (no
slot, an unsupported segment, a failing feed) watchers get the 5 levels, marked so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import redis
from django.conf import settings

from dhan.client import FeedCredentials
from dhan.decoder import Decoder
from dhan.depth import DepthDisconnect, DepthRow, decode_depth
from dhan.depthclient import DepthConnection
from dhan.errors import classify_reason
from dhan.limits import DEPTH_SEGMENTS, MAX_DEPTH_INSTRUMENTS_PER_CONNECTION
from dhan.packets import DecodeError
from dhan.segments import SEGMENT_NAMES, InstrumentKey, InstrumentKeyError
from dhan.ticks import DEFAULT_TICK_SIZES
from prices.cache import PriceStore
from prices.calendar import market_is_open
from prices.deployment import current
from prices.depthwatch import (
    DEPTH20_KEY_PREFIX,
    DEPTH20_TTL_SECONDS,
    DepthInterest,
    depth_interest,
)
from prices.models import Instrument
from prices.quotes import book_from_depth
from prices.sink import PriceSink
from streams.kinds import DEPTH_KIND, ConnectionKind, KindFactory
from streams.marketfeed import check_credentials
from streams.models import Stream

logger = logging.getLogger(__name__)

DEPTH_STREAM_KEY = DEPTH_KIND  # the one Stream row of the deployment's depth socket
REPUBLISH_SECONDS = 1.0  # every book again this often: 20 levels stay preferred


def depth_keys(watched: Iterable[str]) -> list[InstrumentKey]:
    """The watched keys the depth socket can serve: NSE_EQ and NSE_FNO, at most 50 (the
    rest get full mode's 5 levels)."""
    keys = []
    for text in sorted(watched):
        try:
            key = InstrumentKey.parse(text)
        except InstrumentKeyError:
            continue
        if key.segment_name in DEPTH_SEGMENTS:
            keys.append(key)
    return keys[:MAX_DEPTH_INSTRUMENTS_PER_CONNECTION]


def depth_demanded() -> bool:
    """Someone watches depth the socket can serve, deployment-wide (Redis's interest): status
    then shows a stopped `depth20` row as it is, not `idle`. False where that cannot be read
    from here: embedded mode keeps its watchers in its web process, and Redis may not answer."""
    if current().embedded:
        return False
    try:
        return bool(depth_keys(depth_interest().watched()))
    except redis.RedisError:  # said already by the lock read beside it (liveness.read_locks)
        return False


def tick_sizes(keys: Iterable[InstrumentKey]) -> dict[tuple[int, int], float]:
    """Tick sizes of `keys` from the instrument table (database: off the loop)."""
    wanted = {(k.segment_name, k.security_id) for k in keys}
    rows = Instrument.objects.filter(security_id__in={sid for _, sid in wanted}).only(
        "exchange_segment", "security_id", "tick_size"
    )
    return {
        (i.instrument_key.segment, i.security_id): float(i.tick_size)
        for i in rows
        if (i.exchange_segment, i.security_id) in wanted
    }


class DepthKind(ConnectionKind[DepthConnection]):
    """Follows the watchers: `control` (bookkeeping thread) reads them, `maintain` (loop)
    subscribes and unsubscribes, `take` keeps the latest bid and ask side per key."""

    name = DEPTH_KIND

    def __init__(
        self,
        *,
        credentials: FeedCredentials,
        interest: DepthInterest,
        sink: PriceSink,
        idle_seconds: float,
        lookup_ticks: Callable[[Iterable[InstrumentKey]], dict] = tick_sizes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            key=DEPTH_STREAM_KEY, client_id=credentials.client_id, secret=credentials.access_token
        )
        self._credentials = credentials
        self._interest = interest
        self.sink = sink
        self._idle_seconds = idle_seconds
        self._lookup_ticks = lookup_ticks
        self._clock = clock
        self._lock = threading.Lock()  # guards what control hands to the loop
        self._wanted: tuple[InstrumentKey, ...] = ()
        self._ticks: dict[tuple[int, int], float] = {}
        self._decoder = Decoder()
        self._decoder_ticks = self._ticks  # what `_decoder` was built with
        self._subscribed: set[InstrumentKey] = set()  # the loop's
        self._subscribed_names: set[str] = set()
        self._sides: dict[str, dict[str, tuple[DepthRow, ...]]] = {}
        self._changed: set[str] = set()
        self._republished = 0.0
        self._idle_since: float | None = clock()

    def subjects(self) -> list[str]:
        return [str(k) for k in self._wanted]

    # --- bookkeeping thread ----------------------------------------------------------

    def control(self) -> str | None:
        keys = depth_keys(self._interest.watched())
        missing = [k for k in keys if (k.segment, k.security_id) not in self._ticks]
        ticks = self._ticks
        if missing:  # looked up once: keys the table does not know keep the segment's grid
            found = self._lookup_ticks(missing)
            grids = {(k.segment, k.security_id): DEFAULT_TICK_SIZES[k.segment] for k in missing}
            ticks = {**self._ticks, **grids, **found}
        with self._lock:
            self._wanted, self._ticks = tuple(keys), ticks
        if keys:
            self._idle_since = None
            return None
        now = self._clock()
        self._idle_since = self._idle_since if self._idle_since is not None else now
        if now - self._idle_since >= self._idle_seconds:
            return "no depth watchers"
        return None

    def flush(self) -> None:
        self.sink.flush()

    # --- the connection's loop -------------------------------------------------------

    async def open(self) -> DepthConnection:
        conn = DepthConnection(self._credentials)
        await conn.connect()
        return conn

    async def subscribe(self, upstream: DepthConnection) -> None:
        self._subscribed = set()
        await self.maintain(upstream)

    async def maintain(self, upstream: DepthConnection) -> None:
        with self._lock:
            wanted, ticks = set(self._wanted), self._ticks
        if ticks is not self._decoder_ticks:  # control looked up new instruments
            self._decoder, self._decoder_ticks = Decoder(ticks), ticks
        gone, new = self._subscribed - wanted, wanted - self._subscribed
        if gone:
            await upstream.unsubscribe(sorted(gone))
            for key in gone:
                self._sides.pop(str(key), None)
        if new:
            await upstream.subscribe(sorted(new))
        self._subscribed = wanted
        self._subscribed_names = {str(k) for k in wanted}

    async def unsubscribe(self, upstream: DepthConnection) -> None:
        if self._subscribed:
            await upstream.unsubscribe(sorted(self._subscribed))

    def expects_frames(self) -> bool:
        return bool(self._subscribed)

    def take(self, frame: bytes | str) -> None:
        if isinstance(frame, str):
            self.malformed += 1
            return
        try:
            packets = decode_depth(frame, decoder=self._decoder)
        except DecodeError as exc:
            self.malformed += 1
            if self.malformed == 1 or self.malformed % 1000 == 0:
                logger.warning("depth: bad frame skipped (%d so far): %s", self.malformed, exc)
            return
        for packet in packets:
            if isinstance(packet, DepthDisconnect):
                raise classify_reason(packet.reason, what="the depth feed")
            key = f"{SEGMENT_NAMES.get(packet.segment, packet.segment)}:{packet.security_id}"
            if key not in self._subscribed_names:
                continue  # sent before our unsubscribe arrived: nobody watches it now
            self._sides.setdefault(key, {})[packet.side] = packet.rows
            self._changed.add(key)
            self.items_received += 1

    def collect(self) -> bool:
        """The books that changed, and every book once a second (their TTL is short)."""
        now = self._clock()
        if now - self._republished >= REPUBLISH_SECONDS:
            self._republished = now
            self._changed.update(self._sides)
        wall = time.time()
        books = {
            key: book_from_depth(sides["bid"], sides["ask"], ts=wall)
            for key in self._changed
            if len(sides := self._sides.get(key, {})) == 2
        }
        self._changed = set()
        if books:
            self.sink.put_books(books)
        return bool(books)


def depth_factory(
    *, interest: DepthInterest, store: PriceStore | None = None, idle_seconds: float | None = None
) -> KindFactory:
    """Builds the kind for the `depth20` Stream row."""

    def build(stream: Stream) -> DepthKind:
        check_credentials()
        kind = DepthKind(
            credentials=FeedCredentials(
                settings.DHANHQ_DEPTH_FEED_URL,
                settings.DHANHQ_CLIENT_ID,
                settings.DHANHQ_ACCESS_TOKEN,
            ),
            interest=interest,
            sink=PriceSink(
                store=store,
                books_prefix=DEPTH20_KEY_PREFIX,
                books_ttl_seconds=DEPTH20_TTL_SECONDS,
            ),
            idle_seconds=settings.DEPTH_IDLE_SECONDS if idle_seconds is None else idle_seconds,
        )
        kind.control()  # the watchers as of now: subscribed as soon as the socket opens
        return kind

    return KindFactory(name=DEPTH_KIND, build=build, in_hours=market_is_open)
