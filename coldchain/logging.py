"""A logging filter that blanks values of secret-looking parameters, as a last line of defence.

Clients already keep secrets out of what they log; this catches a URL or a body that slipped through.
"""

from __future__ import annotations

import logging
import re

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
