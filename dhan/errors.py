"""Why a DhanHQ connection cannot go on, classified by what a supervisor should do about it:
retry with backoff, cool off, or stop and say why."""

from __future__ import annotations

from dhan.limits import AUTH_REASONS, DISCONNECT_REASONS, RATE_LIMIT_REASONS, REJECTED_REASONS


class FeedError(Exception):
    """The connection cannot go on as it is; `reason` is DhanHQ's disconnect code when known."""

    def __init__(self, message: str, *, reason: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class FeedAuthError(FeedError):
    """Credentials rejected (806-810, HTTP 401/403, a refused login): retrying cannot help."""


class FeedRateLimitedError(FeedError):
    """Too many connections or requests (805, HTTP 429): cool off before retrying."""


class FeedLimitError(FeedError):
    """A DhanHQ limit would be exceeded (instruments per connection, connections)."""


class FeedRejectedError(FeedError):
    """DhanHQ refused the subscription itself (804, 811-814): the same request would fail
    again, so the connection stops with the reason."""


class FeedDisconnectedError(FeedError):
    """The socket closed or failed; reconnecting may help."""


def classify_reason(reason: int, *, what: str = "the feed") -> FeedError:
    """The error for a disconnect packet's reason code."""
    text = (
        f"DhanHQ disconnected {what}: {reason} {DISCONNECT_REASONS.get(reason, 'unknown reason')}"
    )
    if reason in AUTH_REASONS:
        return FeedAuthError(text, reason=reason)
    if reason in RATE_LIMIT_REASONS:
        return FeedRateLimitedError(text, reason=reason)
    if reason in REJECTED_REASONS:
        return FeedRejectedError(text, reason=reason)
    return FeedDisconnectedError(text, reason=reason)


def classify_http_status(status: int, *, what: str) -> FeedError:
    """The error for a refused WebSocket handshake."""
    message = f"{what} handshake rejected with HTTP {status}"
    if status in (401, 403):
        return FeedAuthError(message)
    if status == 429:
        return FeedRateLimitedError(message)
    return FeedDisconnectedError(message)
