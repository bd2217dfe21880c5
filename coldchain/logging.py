"""Logging pieces wired in by the settings: a filter that blanks values of secret-looking parameters (a
last line of defence: clients already keep secrets out of what they log; this catches a URL or a body that
slipped through), and the error-email handler that cannot flood the administrators' inbox.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from django.conf import settings
from django.utils.log import AdminEmailHandler

SECRET_NAMES = (
    r"(?:api[-_]?key|user_api_hash|token|password|passwd|login[-_]pass|client_secret|secret|authorization)"
)
_PATTERN = re.compile(rf"(?i)({SECRET_NAMES}[\"']?\s*[=:]\s*[\"']?(?:Bearer\s+|Basic\s+)?)([^\s&\"',;}}]+)")


def redact(text: str) -> str:
    return _PATTERN.sub(r"\1***", text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class RateLimitedAdminEmailHandler(AdminEmailHandler):
    """Django's error emails to ``ADMINS``, at most ``ERROR_EMAILS_LIMIT`` per
    ``ERROR_EMAILS_PERIOD_MINUTES``: anyone who finds a way to cause server errors could otherwise fill
    that inbox (and hide the one email that matters). The count lives in the shared cache, so the limit
    holds across web workers; if the cache itself is failing, each process counts on its own."""

    _lock = threading.Lock()
    _local: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if not settings.ADMINS:
            return  # nothing would be sent: nothing to count
        if self.allowed():
            super().emit(record)

    def allowed(self) -> bool:
        limit = settings.ERROR_EMAILS_LIMIT
        period = settings.ERROR_EMAILS_PERIOD_MINUTES * 60
        key = f"coldchain:error-emails:{period}:{int(time.time() // period)}"
        try:
            from django.core.cache import cache

            cache.add(key, 0, timeout=period + 60)
            count = cache.incr(key)
        except Exception:  # noqa: BLE001 - the cache may be the very thing failing
            with self._lock:
                self._local = {key: self._local.get(key, 0) + 1}
                count = self._local[key]
        if count == limit + 1:
            # Once per period, on the console (never by email): say that emails are being held back.
            logging.getLogger("coldchain.errors").warning(
                "%d error emails sent in the last %d minutes: no more until the period ends (see the logs)",
                limit,
                period // 60,
            )
        return count <= limit
