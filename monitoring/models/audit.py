"""The audit trail: who changed what, when, from which value to which, and why.

Records are written once and never changed: database triggers refuse UPDATE, DELETE and TRUNCATE of this
table (``permanence.py``), so not even a bug in Python or a hand-made SQL session can rewrite history.
Changes of the audited records are written by PostgreSQL (``AuditTrigger``); events that change no row
of theirs (a signature's meaning, a login, an export) are written by ``monitoring.audit.record``.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.db import models
from django.utils import timezone

from coldchain.audit_triggers import AuditTrigger, membership_trigger
from monitoring.choices import AuditAction
from monitoring.models.permanence import permanent_record_triggers


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
        triggers = permanent_record_triggers()

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.model} {self.object_repr}"


# Django's own models (users, roles, their links) get their audit triggers through proxies: the triggers
# live in this app's migrations. No permissions of their own (nobody works with the proxies).
class UserAudit(User):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = [AuditTrigger(secret=["password"], shown="row_data->>'username'")]


class RoleAudit(Group):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = [AuditTrigger()]


class UserRolesAudit(User.groups.through):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = [
            membership_trigger(
                "auth.user",
                "user_id",
                "auth_user",
                "username",
                "groups",
                "SELECT name FROM auth_group WHERE id = COALESCE(NEW.group_id, OLD.group_id)",
            )
        ]


class RolePermissionsAudit(Group.permissions.through):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = [
            membership_trigger(
                "auth.group",
                "group_id",
                "auth_group",
                "name",
                "permissions",
                "SELECT c.app_label || '.' || p.codename FROM auth_permission p"
                " JOIN django_content_type c ON c.id = p.content_type_id"
                " WHERE p.id = COALESCE(NEW.permission_id, OLD.permission_id)",
            )
        ]


class UserPermissionsAudit(User.user_permissions.through):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = [
            membership_trigger(
                "auth.user",
                "user_id",
                "auth_user",
                "username",
                "user_permissions",
                "SELECT c.app_label || '.' || p.codename FROM auth_permission p"
                " JOIN django_content_type c ON c.id = p.content_type_id"
                " WHERE p.id = COALESCE(NEW.permission_id, OLD.permission_id)",
            )
        ]
