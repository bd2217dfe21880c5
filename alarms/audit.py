"""The audit trail of alarm handling: each notice sent (or failed) is a line in the excursion's trail."""

from __future__ import annotations

from monitoring.audit import record
from monitoring.models.audit import AuditAction


def record_notification(excursion, notification) -> None:
    """ "Level 2 to boss@example.com by email: delivered", "... failed, try 3 (the reason)"."""
    text = str(notification)
    if notification.attempts > 1:
        text += f", try {notification.attempts}"
    if notification.error:
        text += f" ({notification.error})"
    record(AuditAction.NOTIFY, excursion, {"notification": [None, text]}, reason="")
