"""The console handler's filter (settings.LOGGING): redacts `token=` query values and the
configured DhanHQ access token from every record, whatever logged it."""

import logging

from django.conf import settings

from dhan.redact import redact_record


def _configured_token() -> str:
    return getattr(settings, "DHANHQ_ACCESS_TOKEN", "") if settings.configured else ""


class RedactTokenFilter(logging.Filter):
    """Handler filter: redacts `token=` values and the configured access token."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, secrets=(_configured_token(),))
        return True


def logging_config(level: str) -> dict:
    """settings.LOGGING: one console handler, every record through the redacting filter."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_token": {"()": "marketstream.logredact.RedactTokenFilter"}},
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["redact_token"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # websockets logs the request line, and DhanHQ puts the token in the query string.
            "websockets": {"level": "INFO"},
            "daphne": {"level": "WARNING"},
        },
    }
