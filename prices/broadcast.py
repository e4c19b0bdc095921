"""The broadcaster: once per window, the prices that changed go to the Channels group
`dashboard_updates` as ONE message (the one sender to that group, said so here).

Every web process runs a `Broadcaster` (its `LivePrices` starts it as the first WebSocket
consumer connects); one of them leads (`prices.leader`), merges the batches the feeds
announce (`prices.batches`) and sends the window. With the pub/sub channel layer that is one
PUBLISH per window whatever the number of web processes, streams or clients. Embedded
mode: the process leads, and the feeds reach it through the local price store's listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from prices.batches import async_price_batches
from prices.cache import LIVE_UPDATES_CHANNEL, LocalPriceStore
from prices.depthwatch import DepthInterest
from prices.health import market_health
from prices.leader import AsyncLease, async_lease
from prices.loops import raise_if_cancelling

logger = logging.getLogger(__name__)

GROUP = "dashboard_updates"
WINDOW_MESSAGE_TYPE = "ltp.window"  # handled by PricesConsumer.ltp_window
LEADER_KEY = "market_stream:broadcaster"  # holds "host:pid:token" of the leading process
# A dead leader's lock lapses after this (or three windows, if longer); the leader renews
# it every window, and a standby tries every STANDBY_RETRY_SECONDS (prices.leader). A
# clean shutdown releases it at once.
LEADER_TTL_MIN_SECONDS = 3.0
STATUS_REFRESH_SECONDS = 5.0
RECORD_FIELDS = ("quotes", "depth", "candles")  # a window's fields besides "prices"
DEPTH20_SOURCE = "depth20"
DEPTH20_FRESH_SECONDS = 3.0
DEPTH_WATCHED_REFRESH_SECONDS = 1.0


def no_streams_status() -> str:
    """The feed status from the price cache alone (no stream rows): for a broadcaster whose
    owner gave it nothing better."""
    return market_health(rows=lambda now: []).feed


class Broadcaster:
    """Owner of this process's broadcasting task; `stop()` ends it (releasing the lead).

    `status` says the feed's state for clients (live, stale, ...), called off the loop;
    `local_store` is embedded mode's price store, whose writes it listens to."""

    def __init__(
        self,
        *,
        status: Callable[[], str] | None = None,
        local_store: LocalPriceStore | None = None,
        depth_interest: DepthInterest | None = None,
    ) -> None:
        self._status = status or no_streams_status
        self._local_store = local_store
        # Books go out only for keys someone in the deployment watches in depth mode (a
        # full-mode stream carries a book for every instrument, mostly unwatched).
        self._depth_interest = depth_interest
        self._depth_watched: set[str] = set()
        self._depth_watched_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, float] = {}
        self._last_sent: dict[str, float] = {}
        self._records: dict[str, dict] = {field: {} for field in RECORD_FIELDS}  # latest
        self._depth20_at: dict[str, float] = {}  # when a 20-level book of a key last came
        self._seq = 0
        self.status: str | None = None
        self._status_at = 0.0
        self._status_read: asyncio.Future[str] | None = None  # one read for all who wait
        self._status_sent: str | None = None  # in the last window this process sent
        self.windows_sent = 0

    # --- lifecycle ------------------------------------------------------------------

    def ensure_running(self) -> None:
        """Start the task on the running loop unless it runs there already (idempotent)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run(), name="ltp-broadcast")

    async def stop(self) -> None:
        """Called by the owner (`LivePrices.stop`): ends the task, releasing the lead."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        """The task: stand by, lead while this process holds the lease; retry on an outage."""
        while True:
            try:
                ttl = max(LEADER_TTL_MIN_SECONDS, 3 * self.interval_seconds())
                async with async_lease(LEADER_KEY, ttl_seconds=ttl) as lease:
                    await lease.compete(self._lead)
            except (redis.RedisError, OSError) as exc:
                raise_if_cancelling(exc)
                logger.warning("broadcaster lost Redis (%s); retrying in 1 s", exc)
                await asyncio.sleep(1)

    # --- sources --------------------------------------------------------------------

    def merge(self, message: str | bytes) -> None:
        """One `live_ltp_updates` message: remember the latest price of each key, and the
        latest quote and book of each key when the message carries them."""
        try:
            batch = json.loads(message)
            self.merge_prices(batch["prices"])
            self._records["quotes"].update(batch.get("quotes") or {})
            self._records["candles"].update(batch.get("candles") or {})
            self.merge_books(batch.get("depth") or {})
        except (ValueError, TypeError, KeyError, AttributeError):
            logger.warning("ignored a malformed %s message", LIVE_UPDATES_CHANNEL)

    def merge_books(self, books: dict) -> None:
        """The latest BOOK per key; while the depth socket serves a key (it republishes
        every second), full mode's 5-level books of that key are not passed on."""
        now = time.monotonic()
        for key, book in books.items():
            if book.get("source") == DEPTH20_SOURCE:
                self._depth20_at[key] = now
            elif now - self._depth20_at.get(key, -DEPTH20_FRESH_SECONDS) < DEPTH20_FRESH_SECONDS:
                continue
            self._records["depth"][key] = book

    def merge_prices(self, prices: Mapping[str | bytes, Any]) -> None:
        for key, value in prices.items():
            try:
                self._pending[key.decode() if isinstance(key, bytes) else str(key)] = float(value)
            except (ValueError, TypeError, UnicodeDecodeError):
                logger.warning("ignored a malformed price for %r", key)

    async def _lead(self, lease: AsyncLease) -> None:
        """While this process holds the lease: merge the batches, send a window each
        interval, renewing the lease before each; returns once the lease is lost."""
        logger.info("this process now broadcasts to %s", GROUP)
        async with async_price_batches(self._local_store) as batches:
            # Nobody sent windows while no process led: the first window carries every
            # last-known price. Read once subscribed and merged before the batches that
            # arrived meanwhile, which are as new or newer.
            self._last_sent = {}
            self._pending = {}
            self.merge_prices(await batches.last_prices())
            reader = asyncio.create_task(batches.read(self.merge))
            try:
                while not reader.done():
                    await self._sleep_to_next_window()
                    if not await lease.renew():
                        logger.warning("lost the broadcaster lead")
                        return
                    await self.send_window()
                reader.result()
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, redis.RedisError):
                    await reader

    # --- windows --------------------------------------------------------------------

    @staticmethod
    def interval_seconds() -> float:
        return max(settings.LTP_BROADCAST_INTERVAL_MS, 10) / 1000

    async def _sleep_to_next_window(self) -> None:
        interval = self.interval_seconds()
        await asyncio.sleep(interval - time.time() % interval)

    async def current_status(self) -> str:
        """The status for a client that just connected: the last one read while under
        STATUS_REFRESH_SECONDS old, else one read shared by everyone asking meanwhile (a
        market-open connect storm makes one read, not one per connect)."""
        if self.status is not None and time.monotonic() - self._status_at < STATUS_REFRESH_SECONDS:
            return self.status
        if self._status_read is None or self._status_read.done():
            self._status_read = asyncio.ensure_future(self.refresh_status())
        return await asyncio.shield(self._status_read)  # a client leaving stops no read

    async def refresh_status(self) -> str:
        status = await sync_to_async(self._status, thread_sensitive=False)()
        self.status, self._status_at = status, time.monotonic()
        return self.status

    async def _watched_depth(self) -> set[str] | None:
        """The deployment's depth watchers, read at most every DEPTH_WATCHED_REFRESH_SECONDS
        (a new watcher's snapshot comes from the cache meanwhile); None: send every book."""
        if self._depth_interest is None:
            return None
        if time.monotonic() - self._depth_watched_at >= DEPTH_WATCHED_REFRESH_SECONDS:
            read = sync_to_async(self._depth_interest.watched, thread_sensitive=False)
            try:
                self._depth_watched = await read()
            except redis.RedisError as exc:
                logger.warning("depth watchers unknown (%s): sending every book", exc)
                return None
            self._depth_watched_at = time.monotonic()
        return self._depth_watched

    async def send_window(self) -> bool:
        """Send what changed since the last window, and the feed status when it changed.
        Returns whether a message went out."""
        pending, self._pending = self._pending, {}
        changed = {k: v for k, v in pending.items() if self._last_sent.get(k) != v}
        self._last_sent.update(changed)
        records, self._records = self._records, {field: {} for field in RECORD_FIELDS}
        if records["depth"] and (watched := await self._watched_depth()) is not None:
            records["depth"] = {k: v for k, v in records["depth"].items() if k in watched}
        if time.monotonic() - self._status_at >= STATUS_REFRESH_SECONDS:
            await self.refresh_status()  # (or a connect read it: current_status)
        if not changed and not any(records.values()) and self.status == self._status_sent:
            return False
        self._status_sent = self.status
        # Unique per window and increasing across leaders (wall clock in ms).
        self._seq = max(self._seq + 1, int(time.time() * 1000))
        await get_channel_layer().group_send(
            GROUP,
            {
                "type": WINDOW_MESSAGE_TYPE,
                "seq": self._seq,
                "ts": time.time(),
                "status": self.status,
                # Pre-serialised: each consumer's layer decodes one string, and each process
                # parses the prices once (prices.consumers caches them per window).
                "prices": json.dumps(changed, separators=(",", ":")),
                # Quotes and books (quote and full mode streams) ride along when there are
                # any; each arrived because it changed.
                **{f: json.dumps(r, separators=(",", ":")) for f, r in records.items() if r},
            },
        )
        self.windows_sent += 1
        return True
