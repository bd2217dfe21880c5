"""The audit trail of alarm handling: each notice sent (or failed) is a line in the excursion's trail."""

from __future__ import annotations

from monitoring.audit import record
from monitoring.models.audit import AuditAction


def record_notification(excursion, notification) -> None:
    level = f"level {notification.level}, " if notification.level else ""
    text = (
        f"{notification.get_kind_display()} ({level}try {notification.attempts}) to {notification.recipient} "
        f"by {notification.via}: {notification.get_status_display().lower()}"
    )
    if notification.error:
        text += f" ({notification.error})"
    record(AuditAction.NOTIFY, excursion, {"notification": [None, text]}, reason="", user=None)
