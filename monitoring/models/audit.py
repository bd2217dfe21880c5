"""The audit trail: who changed what, when, from which value to which, and why.

Records are written once and never changed: a database trigger refuses UPDATE and DELETE of this table
(migration 0005), so not even a bug in Python or a hand-made SQL session can rewrite history.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, models, transaction
from django.utils import timezone

from monitoring.choices import AuditAction


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


@contextmanager
def purge_allowed() -> Iterator[None]:
    """Deletes of readings (and audit records) are allowed inside, for an explicit purge only, such as
    removing a vendor account with all its data. This sets ``coldchain.allow_purge`` for the current
    transaction only (``SET LOCAL``); updates stay refused even then."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL coldchain.allow_purge = 'on'")
        yield
        # SET LOCAL lasts to the end of the outermost transaction: switch it off again, so that a purge
        # nested in a longer transaction opens no door for what follows.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL coldchain.allow_purge = 'off'")
