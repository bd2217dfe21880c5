"""The audit trail service: who and why for every change PostgreSQL records, and the events it cannot see.

Changes of the audited records (rules and profiles, devices, groups, excursions, signatures, vendor
alerts, vendor accounts, users, roles and their permissions, report subscriptions) are written by
database triggers (``monitoring.audit_triggers.AuditTrigger`` on each model), so ``QuerySet.update()``,
bulk writes and raw SQL are in the trail as well as the admin, the pages, the commands and the engine.
Who and why reach those triggers from a context: the middleware sets the user of each request, services
set the reason (``with audit_context(user=..., reason=...)``); each statement that writes carries the
context as the transaction-local setting ``coldchain.audit_context`` (a JSON object, prefixed to the
statement by a wrapper on every connection: no extra query). Without a user the change is recorded as
made by "system" (the engine, scheduled tasks, a raw SQL session).

Events that change no audited row (a signature's meaning, a refused signature, a login, an export) are
written by ``record``.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from coldchain.audit_context import audit_context, current_reason, current_user
from monitoring.choices import AuditAction
from monitoring.models import AuditRecord

SYSTEM = "system"
SECRET = "(changed, not shown)"  # as the triggers write it (monitoring/audit_sql.py)
# The statements that may change a row (and so fire an audit trigger) carry the context.
WRITES = ("insert", "update", "delete", "with", "merge")


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
        reason=reason if reason is not None else current_reason(),
    )


def record_export(
    user, what: str, instance=None, *, start=None, end=None, file_format: str = "csv", details: str = ""
) -> AuditRecord:
    """Audit one export of data: who downloaded ``what`` (readings, positions, the audit trail, a
    report) of which period, in which format. ``instance``: the record exported from (a device, a
    report), or none for a listing (the audit trail)."""
    period = f"{_utc(start) if start else 'the beginning'} to {_utc(end) if end else 'now'}"
    changes = {"exported": [None, what], "period": [None, period], "format": [None, file_format]}
    if details:
        changes["filters"] = [None, details]
    if instance is None:
        user = user if user is not None else current_user()
        authenticated = user is not None and getattr(user, "is_authenticated", False)
        return AuditRecord.objects.create(
            user_id=user.pk if authenticated else None,
            username=user.get_username() if authenticated else SYSTEM,
            action=AuditAction.EXPORT,
            model=AuditRecord._meta.label_lower,
            object_id="",
            object_repr=what,
            changes=changes,
        )
    return record(AuditAction.EXPORT, instance, changes, reason="", user=user)


def _utc(moment) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _context_json() -> str:
    user = current_user()
    context: dict = {}
    if user is not None and getattr(user, "is_authenticated", False):
        context = {"user_id": user.pk, "username": user.get_username()}
    if current_reason():
        context["reason"] = current_reason()
    return json.dumps(context)


def _with_context(execute, sql, params, many, context):
    """Prefix a writing statement with the audit context (``SET LOCAL`` for that statement's transaction):
    the audit triggers read it. Every writing statement sets it, so no context outlives its block."""
    text = sql.decode() if isinstance(sql, bytes) else sql
    if many or not isinstance(text, str) or not text.lstrip()[:6].lower().startswith(WRITES):
        return execute(sql, params, many, context)
    if params is None:
        text = text.replace("%", "%%")  # with parameters now, a literal % must be written %%
    if isinstance(params, dict):
        text = "SELECT set_config('coldchain.audit_context', %(coldchain_audit_context)s, true); " + text
        params = {**params, "coldchain_audit_context": _context_json()}
    else:
        text = "SELECT set_config('coldchain.audit_context', %s, true); " + text
        params = (_context_json(), *(params or ()))
    cursor = execute(text, params, many, context)
    # psycopg 3: the results of the statement itself (rows, rowcount) are those after the set_config.
    db_cursor = context["cursor"]
    while db_cursor.nextset():
        pass
    return cursor


def carry_context(connection, **kwargs) -> None:
    """Every new database connection carries the audit context with its writes (``connection_created``)."""
    if connection.vendor == "postgresql" and _with_context not in connection.execute_wrappers:
        connection.execute_wrappers.append(_with_context)


@contextmanager
def acknowledging() -> Iterator[None]:
    """A vendor alert's acknowledgement (who, when, the comment) may be set inside, once: on PostgreSQL
    this sets ``coldchain.acknowledging`` for the current transaction only (``SET LOCAL``)."""
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
