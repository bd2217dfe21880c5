"""The audit trail service: every change to rules, accounts, devices, groups, excursions and vendor alerts
is recorded
with who, when, what, the old and new values and the reason.

Changes are caught with model signals, so the admin, the pages, the commands and the engine are all
covered without each remembering to log. Who and why come from a context: the middleware sets the user
of each request, services set the reason (``with audit_context(user=..., reason=...)``); without a
user the change is recorded as made by "system" (the engine, scheduled tasks).

Readings and audit records are never updated or deleted; database triggers refuse it (see migration
0005). The one exception is an explicit purge (removing a vendor account and all its data), which must run
inside ``purge_allowed()`` (kept with the model, ``models/audit.py``). A vendor alert's acknowledgement is
written once, by the acknowledge action inside ``acknowledging()``; PostgreSQL refuses any other change to
it (migration 0010).
"""

from __future__ import annotations

import contextvars
import datetime
import decimal
from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from monitoring.models import (
    AlarmProfile,
    AlarmRule,
    AuditRecord,
    DeploymentGroup,
    Device,
    Excursion,
    ReportSubscription,
    VendorAlert,
)
from monitoring.models.audit import AuditAction, purge_allowed  # noqa: F401 - the service names it too
from vendors.models import VendorAccount

_user: contextvars.ContextVar = contextvars.ContextVar("audit_user", default=None)
_reason: contextvars.ContextVar[str] = contextvars.ContextVar("audit_reason", default="")

SYSTEM = "system"
SECRET = "(changed, not shown)"

# Fields left out of the trail: sync bookkeeping that changes at every run and says nothing about who
# configured what.
IGNORED_FIELDS: dict[type, set[str]] = {
    Device: {
        "last_seen",
        "battery",
        "readings_cursor",
        "positions_cursor",
        "latitude",
        "longitude",
        "created_at",
    },
    VendorAccount: {
        "session",
        "next_sync_at",
        "last_sync_started_at",
        "last_success_at",
        "last_error",
        "last_error_at",
        "consecutive_failures",
        "alerts_cursor",
        "sync_lock_owner",
        "sync_lock_until",
        "created_at",
    },
    Excursion: {"created_at"},
}
# Encrypted fields: recorded as changed, never with their value ("secret": alarms' channels and webhooks).
SECRET_FIELDS = {"credentials", "password", "secret"}


def audited_models() -> list[type]:
    return [
        AlarmRule,
        AlarmProfile,
        Device,
        DeploymentGroup,
        Excursion,
        VendorAlert,
        VendorAccount,
        ReportSubscription,
        get_user_model(),
        Group,
    ]


@contextmanager
def audit_context(user=None, reason: str = "") -> Iterator[None]:
    """Changes made inside are recorded as made by ``user`` (if given) for ``reason`` (if given)."""
    user_token = _user.set(user) if user is not None else None
    reason_token = _reason.set(reason) if reason else None
    try:
        yield
    finally:
        if user_token is not None:
            _user.reset(user_token)
        if reason_token is not None:
            _reason.reset(reason_token)


def current_user():
    return _user.get()


def _plain(value):
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _snapshot(instance, fields=None) -> dict:
    ignored = IGNORED_FIELDS.get(type(instance), set())
    out = {}
    for field in instance._meta.concrete_fields:
        if field.primary_key or field.name in ignored:
            continue
        if fields is not None and field.name not in fields and field.attname not in fields:
            continue
        out[field.name] = _plain(field.value_from_object(instance))
    return out


def record(
    action: str, instance, changes: dict | None = None, reason: str | None = None, user=None
) -> AuditRecord:
    """Write one audit record about ``instance``."""
    user = user if user is not None else current_user()
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    return AuditRecord.objects.create(
        user_id=user.pk if authenticated else None,
        username=user.get_username() if authenticated else SYSTEM,
        action=action,
        model=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_repr=str(instance)[:300],
        changes=changes or {},
        reason=reason if reason is not None else _reason.get(),
    )


def _diff(old: dict, new: dict) -> dict:
    changes = {}
    for name, value in new.items():
        before = old.get(name)
        if before != value:
            if name in SECRET_FIELDS:
                changes[name] = [SECRET if before else None, SECRET]
            else:
                changes[name] = [before, value]
    return changes


def _before_save(sender, instance, update_fields=None, raw=False, **kwargs):
    if raw or instance.pk is None or instance._state.adding:
        instance._audit_old = None
        return
    fields = set(update_fields) if update_fields else None
    old = sender._default_manager.filter(pk=instance.pk).first()
    instance._audit_old = _snapshot(old, fields) if old is not None else None


def _after_save(sender, instance, created, update_fields=None, raw=False, **kwargs):
    if raw:
        return
    fields = set(update_fields) if update_fields else None
    new = _snapshot(instance, fields)
    if created or getattr(instance, "_audit_old", None) is None:
        changes = {
            name: [None, SECRET if name in SECRET_FIELDS and value else value] for name, value in new.items()
        }
        record(AuditAction.CREATE, instance, changes)
        return
    changes = _diff(instance._audit_old, new)
    if changes:
        record(AuditAction.UPDATE, instance, changes)


def _after_delete(sender, instance, **kwargs):
    old = _snapshot(instance)
    changes = {
        name: [SECRET if name in SECRET_FIELDS and value else value, None] for name, value in old.items()
    }
    record(AuditAction.DELETE, instance, changes)


def _groups_changed(sender, instance, action, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    names = sorted(Group.objects.filter(pk__in=pk_set or []).values_list("name", flat=True))
    verb = {"post_add": "added", "post_remove": "removed", "post_clear": "cleared"}[action]
    record(AuditAction.UPDATE, instance, {"groups": [None, f"{verb}: {', '.join(names)}"]})


def connect_model(model: type, ignored_fields: set[str] | None = None) -> None:
    """Audit every save and delete of ``model`` (other apps call this for their own models, from their
    ``AppConfig.ready``), leaving out ``ignored_fields`` (bookkeeping that says nothing of who did what)."""
    if ignored_fields:
        IGNORED_FIELDS.setdefault(model, set()).update(ignored_fields)
    uid = f"audit-{model._meta.label_lower}"
    pre_save.connect(_before_save, sender=model, dispatch_uid=f"{uid}-pre")
    post_save.connect(_after_save, sender=model, dispatch_uid=f"{uid}-post")
    post_delete.connect(_after_delete, sender=model, dispatch_uid=f"{uid}-delete")


def connect_signals() -> None:
    for model in audited_models():
        connect_model(model)
    m2m_changed.connect(
        _groups_changed, sender=get_user_model().groups.through, dispatch_uid="audit-user-groups"
    )


@contextmanager
def acknowledging() -> Iterator[None]:
    """A vendor alert's acknowledgement (who, when, the comment) may be set inside, once: on PostgreSQL
    this sets ``coldchain.acknowledging`` for the current transaction only, as ``purge_allowed`` does."""
    postgresql = connection.vendor == "postgresql"
    with transaction.atomic():
        if postgresql:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL coldchain.acknowledging = 'on'")
        yield
        if postgresql:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL coldchain.acknowledging = 'off'")


class AuditUserMiddleware:
    """Makes the request's user known to the audit trail (after AuthenticationMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        with audit_context(user=user if user is not None and user.is_authenticated else None):
            return self.get_response(request)
