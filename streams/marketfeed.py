"""The market-feed connection kind: one DhanHQ v2 feed socket per stream key, its
instruments subscribed in the stream's mode, frames scanned for the latest LTP per
instrument and flushed through the price sink (the one writer of prices).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date

from django.conf import settings

from dhan.client import FeedConnection, FeedCredentials, classify_disconnect
from dhan.decoder import Decoder
from dhan.limits import MAX_INSTRUMENTS_PER_CONNECTION
from dhan.packets import DecodeError, Full, Quote
from dhan.requests import FeedMode
from dhan.scanner import LtpScanner
from dhan.segments import InstrumentKey
from history.candles import LiveCandles
from prices.cache import PriceStore
from prices.calendar import market_is_open
from prices.quotes import INDEX_SEGMENT, book_from_full, previous_close, quote_record
from prices.rest import fetch_previous_closes
from prices.sink import PriceSink
from streams.keys import StreamKeyError, parse_stream_key, resolve_instruments
from streams.kinds import (
    MARKET_FEED_KIND,
    ConnectionKind,
    KindFactory,
    StartRefused,
)
from streams.models import Stream

logger = logging.getLogger(__name__)


def check_credentials() -> None:
    if not settings.DHANHQ_WS_ENABLED:
        raise StartRefused("feeds are disabled (DHANHQ_WS_ENABLED=false)")
    if not (settings.DHANHQ_CLIENT_ID and settings.DHANHQ_ACCESS_TOKEN):
        raise StartRefused("DHANHQ_CLIENT_ID and DHANHQ_ACCESS_TOKEN must be set")


class MarketFeedKind(ConnectionKind[FeedConnection]):
    """Prices for one stream's instruments. The hot path (`take`) keeps only the latest
    LTP per instrument; `collect` hands them to the sink, whose writer thread flushes."""

    name = MARKET_FEED_KIND

    def __init__(
        self,
        *,
        key: str,
        credentials: FeedCredentials,
        instruments: list[InstrumentKey],
        tick_sizes: dict[tuple[int, int], float],
        mode: FeedMode,
        sink: PriceSink,
    ) -> None:
        super().__init__(key=key, client_id=credentials.client_id, secret=credentials.access_token)
        self._credentials = credentials
        self.instruments = instruments
        self.mode = mode
        self.scanner = LtpScanner(Decoder(tick_sizes), keep_quotes=mode != FeedMode.TICKER)
        # Candles need the quote's volume: none in ticker mode.
        self.candles = (
            None
            if mode == FeedMode.TICKER
            else LiveCandles(
                [str(k) for k in instruments],
                Decoder(tick_sizes),
                sink=sink,
                round_the_clock=bool(settings.DEV_MODE),
            )
        )
        self._prev_closes: dict[str, float] = {}  # what quotes report their change against
        self._closes_fetched: dict[str, date] = {}  # ticker mode: REST OHLC, once a day
        # A REST call can take seconds: never on the loop, nor on the bookkeeping thread
        # (which must notice a stop within a second).
        self._rest = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feed-rest")
        self._fetching: Future | None = None
        self.sink = sink
        self._bad_frames = 0  # text frames and frames the scanner refused

    async def open(self) -> FeedConnection:
        if self.candles is not None and not self.candles.loaded:
            await asyncio.wrap_future(self.candles.start_loading())  # before the first packet
        conn = FeedConnection(self._credentials, decoder=Decoder())
        await conn.connect()
        return conn

    async def subscribe(self, upstream: FeedConnection) -> None:
        await upstream.subscribe(self.instruments, mode=self.mode)

    async def unsubscribe(self, upstream: FeedConnection) -> None:
        await upstream.unsubscribe(self.instruments, mode=self.mode)

    def take(self, frame: bytes | str) -> None:
        if isinstance(frame, str):
            self._bad_frames += 1
            return
        try:
            disconnect = self.scanner.scan(frame)
        except DecodeError as exc:
            self._bad_frames += 1
            if self._bad_frames == 1 or self._bad_frames % 1000 == 0:
                logger.warning(
                    "stream %s: malformed frame skipped (%d so far): %s",
                    self.key,
                    self._bad_frames,
                    exc,
                )
            return
        if self.candles is not None:
            self.candles.take(frame)
        self.items_received = self.scanner.packets
        if disconnect is not None:
            raise classify_disconnect(disconnect)

    def collect(self) -> bool:
        prices = self.scanner.drain()
        closes = self.scanner.drain_prev_close()
        packets, ois = self.scanner.drain_quotes()
        self.items_received = self.scanner.packets
        # Non-finite prices are found as they are drained: they count as malformed too.
        self.malformed = self._bad_frames + self.scanner.malformed
        candled = self.candles.collect() if self.candles is not None else False
        if not (prices or closes or packets):
            return candled
        self._prev_closes.update(closes)
        self.sink.put_many(prices.items())
        self.sink.put_prev_closes(closes)
        if packets:
            self._put_quotes(packets, ois)
            if self.candles is not None:
                self.candles.put_days(packets)
        return True

    def _put_quotes(self, packets: dict[str, Quote | Full], ois: dict[str, int]) -> None:
        """Quote and full mode: QUOTE records, previous closes from the packets (all but
        indices), and the 5-level book of full packets."""
        closes = {k: c for k, p in packets.items() if (c := previous_close(p)) is not None}
        if closes:
            self._prev_closes.update(closes)
            self.sink.put_prev_closes(closes)
        self.sink.put_quotes(
            {
                k: quote_record(p, prev_close=self._prev_closes.get(k), oi=ois.get(k))
                for k, p in packets.items()
            }
        )
        now = time.time()
        books = {k: book_from_full(p, ts=now) for k, p in packets.items() if isinstance(p, Full)}
        if books:
            self.sink.put_books(books)

    def subjects(self) -> list[str]:
        return [str(k) for k in self.instruments]

    def flush(self) -> None:
        self.sink.flush()

    def heartbeat(self) -> None:
        self.sink.heartbeat()
        if self.mode == FeedMode.TICKER and (self._fetching is None or self._fetching.done()):
            self._fetching = self._rest.submit(self._fetch_missing_closes)

    def close(self) -> None:
        self._rest.shutdown(wait=False, cancel_futures=True)
        if self.candles is not None:
            self.candles.close()

    def _fetch_missing_closes(self) -> None:
        """Ticker mode: DhanHQ sends equities no previous close (indices get a code-6
        packet), so fetch each one once a day through REST OHLC, on the kind's REST thread
        and within the deployment's REST gate (a refused call is tried at the next beat)."""
        today = date.today()
        wanted = [
            str(k)
            for k in self.instruments
            if k.segment != INDEX_SEGMENT and self._closes_fetched.get(str(k)) != today
        ]
        if not wanted:
            return
        closes = fetch_previous_closes(wanted)
        if closes:
            self.sink.put_prev_closes(closes)
            self._closes_fetched.update(dict.fromkeys(closes, today))


def market_feed_factory(*, store: PriceStore | None = None) -> KindFactory:
    """Builds the kind for a market-feed Stream row; prices go to `store` (the process's)."""

    def build(stream: Stream) -> MarketFeedKind:
        check_credentials()
        try:
            instruments = resolve_instruments(parse_stream_key(stream.key))
            mode = FeedMode.parse(stream.mode)
        except (StreamKeyError, ValueError) as exc:
            raise StartRefused(str(exc)) from None
        if len(instruments) > MAX_INSTRUMENTS_PER_CONNECTION:
            raise StartRefused(
                f"{len(instruments)} instruments exceed DhanHQ's "
                f"{MAX_INSTRUMENTS_PER_CONNECTION} per connection: split the stream"
            )
        return MarketFeedKind(
            key=stream.key,
            credentials=FeedCredentials(
                settings.DHANHQ_FEED_URL, settings.DHANHQ_CLIENT_ID, settings.DHANHQ_ACCESS_TOKEN
            ),
            instruments=[i.instrument_key for i in instruments],
            tick_sizes={
                (i.instrument_key.segment, i.security_id): float(i.tick_size) for i in instruments
            },
            mode=mode,
            sink=PriceSink(store=store),
        )

    return KindFactory(name=MarketFeedKind.name, build=build, in_hours=market_is_open)
