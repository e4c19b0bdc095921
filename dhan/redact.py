"""Keeps a DhanHQ access token out of text and log records.

DhanHQ puts the token in the feed URL's query string and `websockets` logs request lines
at DEBUG, so every record that could carry it is redacted at the source (the logger we
hand to `websockets.connect`) and again by a handler filter (settings.LOGGING).
"""

import logging
import re
import sys
import traceback
from types import TracebackType
from typing import Any

_TOKEN_IN_QUERY = re.compile(r"(token=)[^&\s'\"]+", re.IGNORECASE)
REDACTED = "***"
# What `logging` takes as `exc_info`: a flag, an exception or `sys.exc_info()`'s tuple.
_ExcTuple = (
    tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]
)
_ExcInfo = bool | BaseException | _ExcTuple | None


def redact(text: str, *, secrets: tuple[str, ...] = ()) -> str:
    """Return `text` with any `token=` query value and every given secret replaced."""
    text = _TOKEN_IN_QUERY.sub(r"\1" + REDACTED, text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def redact_record(record: logging.LogRecord, *, secrets: tuple[str, ...] = ()) -> None:
    """Rewrite a record in place so that neither its message nor its traceback leaks."""
    message = record.getMessage()
    clean = redact(message, secrets=secrets)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info))
        record.exc_text = redact(text, secrets=secrets).rstrip("\n")
        record.exc_info = None


class RedactingAdapter(logging.LoggerAdapter):
    """The logger given to `websockets.connect`: records are clean before any handler."""

    def __init__(self, logger: logging.Logger, *, secret: str) -> None:
        super().__init__(logger, {})
        self._secret = secret

    def log(
        self, level: int, msg: object, *args: object, exc_info: _ExcInfo = None, **kwargs: Any
    ) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        if exc_info:
            text += "\n" + "".join(traceback.format_exception(*_exc_tuple(exc_info))).rstrip("\n")
        kwargs.pop("extra", None)
        self.logger.log(level, redact(text, secrets=(self._secret,)), **kwargs)


def _exc_tuple(exc_info: bool | BaseException | _ExcTuple) -> _ExcTuple:
    """`exc_info` as `logging` reads it: True means the exception being handled."""
    if isinstance(exc_info, BaseException):
        return (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, bool):
        return sys.exc_info()
    return exc_info
