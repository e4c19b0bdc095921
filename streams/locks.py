"""One live connection per key, and at most DhanHQ's MAX_CONNECTIONS_PER_CLIENT sockets per
client id whatever their kind, across processes: Redis locks with a TTL that the connection
thread renews (a crashed worker's locks expire; a worker stopping gracefully hands them
over). Embedded mode has one process: its registry's `LocalSlots` keep the same books.
"""

from __future__ import annotations

import hashlib
import logging
import threading

import redis

from dhan.limits import MAX_CONNECTIONS_PER_CLIENT
from streams.handover import announce

logger = logging.getLogger(__name__)

# Renewed every second by the connection thread; a dead worker's lapse within this, and
# another worker takes its streams over (takeover.py). Status shows the worker gone long
# before (liveness.py). Shorter would risk two connections for a key during a Redis pause.
LOCK_TTL_SECONDS = 10
KEY_LOCK_PREFIX = "market_stream:lock:"
SLOT_LOCK_PREFIX = "market_stream:connection:"


class KeyBusy(Exception):
    """Another process runs a connection for this key."""


class BudgetFull(Exception):
    """Every connection slot of the client id is in use."""

    def __init__(self) -> None:
        super().__init__(
            f"DhanHQ allows {MAX_CONNECTIONS_PER_CLIENT} feed connections per client id "
            "and all are in use: stop a stream first"
        )


def digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - a name, not a secret


class LocalSlots:
    """Embedded mode's books: keys held and slots used per client id, in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: set[str] = set()
        self._used: dict[str, int] = {}

    def take(self, key: str, client_id: str) -> None:
        with self._lock:
            if key in self._keys:
                raise KeyBusy("already running in this process")
            if self._used.get(client_id, 0) >= MAX_CONNECTIONS_PER_CLIENT:
                raise BudgetFull
            self._keys.add(key)
            self._used[client_id] = self._used.get(client_id, 0) + 1

    def give_back(self, key: str, client_id: str) -> None:
        with self._lock:
            if key in self._keys:
                self._keys.discard(key)
                self._used[client_id] -= 1


class ConnectionLocks:
    """The key lock and one budget slot of one connection. `acquire` raises KeyBusy or
    BudgetFull; `renew` and `release` never raise."""

    def __init__(self, key: str, *, client_id: str, client: redis.Redis | None, local: LocalSlots):
        self._key = key
        self._client_id = client_id
        self._client = client
        self._local = local
        self._key_lock: redis.lock.Lock | None = None
        self._slot_lock: redis.lock.Lock | None = None
        self._held_locally = False

    def acquire(self) -> None:
        if self._client is None:
            self._local.take(self._key, self._client_id)
            self._held_locally = True
            return
        key_lock = self._lock(KEY_LOCK_PREFIX + digest(self._key))
        if not key_lock.acquire(blocking=False):
            raise KeyBusy("already running in another worker")
        client = digest(self._client_id)
        for slot in range(MAX_CONNECTIONS_PER_CLIENT):
            slot_lock = self._lock(f"{SLOT_LOCK_PREFIX}{client}:{slot}")
            if slot_lock.acquire(blocking=False):
                self._key_lock, self._slot_lock = key_lock, slot_lock
                return
        key_lock.release()
        raise BudgetFull

    def _lock(self, name: str) -> redis.lock.Lock:
        assert self._client is not None
        return self._client.lock(name, timeout=LOCK_TTL_SECONDS, thread_local=False)

    def renew(self) -> bool:
        """False only when another connection holds this key (or every slot) now.

        Redis unreachable: keep going; nobody can take the locks while it is down, and
        supervision judges by the heartbeat (in the database) meanwhile (liveness.py).
        Locks gone when it is back (a restart, or down longer than their TTL): take them
        again if they are free."""
        if self._client is None:
            return True
        try:
            if all(lock.reacquire() for lock in (self._key_lock, self._slot_lock) if lock):
                return True
        except redis.exceptions.LockError:
            pass
        except redis.RedisError as exc:
            logger.warning(
                "connection %s: cannot renew its lock, Redis unreachable (%s); it goes on",
                self._key,
                exc,
            )
            return True
        logger.warning("connection %s: its lock lapsed; taking it again", self._key)
        self.release()
        try:
            self.acquire()
        except (KeyBusy, BudgetFull):
            return False
        except redis.RedisError:
            return True  # unreachable again: the next round tries
        return True

    def hand_over(self) -> None:
        """A graceful stop (the worker is shutting down): release the locks and announce
        the key, so that another worker starts the stream at once. Never raises."""
        client = self._client
        self.release()
        if client is not None:
            announce(client, self._key)

    def release(self) -> None:
        """Never raises: a lock that cannot be released (Redis down) lapses by its TTL."""
        if self._held_locally:
            self._local.give_back(self._key, self._client_id)
            self._held_locally = False
        for lock in (self._slot_lock, self._key_lock):
            if lock is not None:
                try:
                    lock.release()
                except redis.exceptions.LockError:
                    pass  # expired already; the token check never frees another's lock
                except redis.RedisError as exc:
                    logger.warning("connection %s: lock left to expire (%s)", self._key, exc)
        self._key_lock = self._slot_lock = None
