"""The audit trail: who changed what, when, from which value to which, and why.

Records are written once and never changed: a database trigger refuses UPDATE and DELETE of this table
(migration 0005), so not even a bug in Python or a hand-made SQL session can rewrite history.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Changed"
    DELETE = "delete", "Deleted"
    ACKNOWLEDGE = "acknowledge", "Acknowledged (signed)"
    CLOSE = "close", "Closed (signed)"
    SIGNATURE_REFUSED = "sign_refused", "Signature refused (wrong password)"
    LOCKED_OUT = "locked_out", "Locked out (too many refused signatures)"
    # Accounts and sessions (users/): codes stay within the column's 12 characters.
    LOGIN = "login", "Logged in"
    LOGOUT = "logout", "Logged out"
    SESSION_EXPIRED = "session_end", "Session expired"
    PASSWORD_CHANGED = "password", "Password changed"
    PASSWORD_CHANGE_REQUIRED = "pw_required", "Password change required"
    PASSWORD_CHANGE_CLEARED = "pw_cleared", "Password change no longer required"
    # The steps of archiving a month of readings or positions (monitoring/archive.py).
    ARCHIVE = "archive", "Archived to a file"
    VERIFY = "verify", "Archive verified"
    REFUSE = "refuse", "Archive refused"
    DETACH = "detach", "Partition detached"
    DROP = "drop", "Detached partition dropped"
    # Alarm handling (alarms/): a notice sent about an excursion, delivered or failed.
    NOTIFY = "notify", "Notification"


class AuditRecord(models.Model):
    at = models.DateTimeField(default=timezone.now)
    # The user's id and name as they were: a plain copy, not a foreign key, so that deleting a user
    # never has to touch (update or delete) an audit record.
    user_id = models.IntegerField(null=True, blank=True)
    username = models.CharField(max_length=150, help_text='"system" for the engine and scheduled tasks.')
    action = models.CharField(max_length=12, choices=AuditAction.choices)
    model = models.CharField(max_length=100, help_text='app_label.model, e.g. "monitoring.alarmrule".')
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    changes = models.JSONField(default=dict, blank=True, help_text="{field: [old value, new value]}")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["at"]), models.Index(fields=["model", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.model} {self.object_repr}"
