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
