"""What a `/ws/dashboard/` client may send: messages of at most WS_MAX_MESSAGE_BYTES, at a
rate of WS_MESSAGES_PER_SECOND (bursts of WS_MESSAGE_BURST). The consumer
(`prices.consumers`) asks `MessageLimits.refusal` before it reads each message.

Over the rate: an `error` reply, and after WS_FLOOD_REFUSALS_BEFORE_CLOSE of them a close
with 4429. Over the size: an `error` reply (the contract's "a malformed message gets an
error and the socket stays open"); that is for a message of many smaller frames, or under
another server: under daphne a frame over the size never gets here, it is closed with 1009
as it arrives (`gateway.daphneoptions`), and browsers send a message as one frame.
An oversize message counts against the rate like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from django.conf import settings

FLOOD_CLOSE_CODE = 4429  # a client that kept sending over its message budget


@dataclass(frozen=True, slots=True)
class Refusal:
    """How a message is refused: the socket closed with `close_code`, or `error` answered."""

    close_code: int | None = None
    error: str = ""


FLOODING = Refusal(close_code=FLOOD_CLOSE_CODE)


def too_big(data: str | bytes) -> bool:
    """Whether a message is over WS_MAX_MESSAGE_BYTES (UTF-8 bytes; a text is encoded only
    when its length leaves it in doubt: a character is 1 to 4 bytes). 0: no limit."""
    limit = settings.WS_MAX_MESSAGE_BYTES
    if limit <= 0 or len(data) <= limit // 4:
        return False
    return len(data.encode() if isinstance(data, str) else data) > limit


def too_big_error() -> Refusal:
    limit = settings.WS_MAX_MESSAGE_BYTES
    size = f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit:,} bytes"
    return Refusal(error=f"frame over {size}: send at most {limit:,} bytes a message")


class MessageLimits:
    """One connection's: its message budget (a token bucket, made on the first message:
    most clients send a few) and the refusals it has had."""

    __slots__ = ("_budget", "_refusals")

    def __init__(self) -> None:
        self._budget: AsyncLimiter | None = None
        self._refusals = 0

    async def refusal(self, data: str | bytes) -> Refusal | None:
        """Called by the consumer for each client message, before it reads it: None when
        the message may be handled."""
        if self._budget is None:
            burst = settings.WS_MESSAGE_BURST
            self._budget = AsyncLimiter(burst, burst / settings.WS_MESSAGES_PER_SECOND)
        if not self._budget.has_capacity():
            self._refusals += 1
            if self._refusals >= settings.WS_FLOOD_REFUSALS_BEFORE_CLOSE:
                return FLOODING
            rate = settings.WS_MESSAGES_PER_SECOND
            return Refusal(error=f"too many messages: at most {rate:g} a second")
        await self._budget.acquire()  # at once: there is capacity
        return too_big_error() if too_big(data) else None
