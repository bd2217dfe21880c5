"""The audit triggers: the audit trail of a table, written by PostgreSQL (the SQL functions they call are
in ``monitoring/audit_sql.py``), and ``ClosedTrigger``, the kind of django-pgtrigger trigger that the
application's role cannot switch off (audit, rule versions, permanent records). Project plumbing, in
``coldchain/``, so that any app's models declare them (``vendors.models``, ``alarms.models`` do) without
importing monitoring (``monitoring.audit_triggers`` stays as a name for the migrations).
"""

from __future__ import annotations

import json

import pgtrigger
import pgtrigger.compiler


class SuperuserMayIgnoreTriggerSql(pgtrigger.compiler.UpsertTriggerSql):
    """django-pgtrigger's trigger SQL, but its ignore switch (``pgtrigger.ignore``, a session setting any
    role may set) works only for a superuser, who could disable the trigger anyway: for the application's
    role no setting opens a door. (The test runner, a superuser, empties its test database with it.)"""

    CHECK = "IF ({ignore_func_name}(TG_NAME) IS TRUE) THEN"

    def get_template(self) -> str:
        template = super().get_template()
        if self.CHECK not in template:  # a new django-pgtrigger: see that its switch stays closed
            raise RuntimeError(
                "django-pgtrigger's trigger template changed: review monitoring/audit_triggers.py"
            )
        return template.replace(
            self.CHECK,
            "IF ({ignore_func_name}(TG_NAME) IS TRUE AND current_setting('is_superuser') = 'on') THEN",
        )


class ClosedTrigger(pgtrigger.Trigger):
    """A trigger the application's role cannot switch off (``SuperuserMayIgnoreTriggerSql``)."""

    def compile(self, model) -> pgtrigger.compiler.Trigger:
        compiled = super().compile(model)
        return pgtrigger.compiler.Trigger(
            name=compiled.name, sql=SuperuserMayIgnoreTriggerSql(**compiled.sql.kwargs)
        )


class AuditTrigger(ClosedTrigger):
    """The audit trail of one table, written by PostgreSQL itself: after each INSERT, UPDATE and DELETE
    (from the ORM, ``QuerySet.update()``, bulk writes or raw SQL alike) one ``AuditRecord`` with the
    changed fields' old and new values, who and why (the context ``monitoring.audit`` passes with each
    statement; none means "system").

    ``ignored``: fields left out (bookkeeping that says nothing about who configured what; an UPDATE
    that changes only those is not recorded). ``secret``: fields recorded as changed, never their value.
    ``shown``: the record's name in the trail, an SQL expression over ``row_data`` (the row as jsonb).
    """

    def __init__(self, *, ignored=(), secret=(), shown="row_data->>'name'", name="audit", **kwargs):
        self.ignored, self.secret, self.shown = set(ignored), list(secret), shown
        kwargs.setdefault("when", pgtrigger.After)
        kwargs.setdefault("operation", pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete)
        super().__init__(name=name, **kwargs)

    def get_func(self, model) -> str:
        label = model._meta.concrete_model._meta.label_lower
        fields = {
            field.column: field.name
            for field in model._meta.concrete_fields
            if not field.primary_key and field.name not in self.ignored
        }
        secret = ", ".join(f"'{model._meta.get_field(name).column}'" for name in self.secret)
        return (
            # Model metadata from our own code, never user input.
            f"PERFORM coldchain_audit_row(TG_OP, '{label}', to_jsonb(OLD), to_jsonb(NEW),"  # noqa: S608
            f" '{json.dumps(fields, sort_keys=True)}'::jsonb, ARRAY[{secret}]::text[],"
            f" (SELECT {self.shown} FROM (SELECT COALESCE(to_jsonb(NEW), to_jsonb(OLD)) AS row_data) AS r));"
            " RETURN NULL;"
        )


def membership_trigger(label: str, owner: str, owner_table: str, shown: str, field: str, member: str):
    owner_id = f"COALESCE(NEW.{owner}, OLD.{owner})"
    return ClosedTrigger(
        name="audit",
        when=pgtrigger.After,
        operation=pgtrigger.Insert | pgtrigger.Delete,
        func=(
            f"PERFORM coldchain_audit_membership(TG_OP, '{label}', {owner_id},"  # noqa: S608
            f" (SELECT {shown} FROM {owner_table} WHERE id = {owner_id}), '{field}', ({member}));"
            " RETURN NULL;"
        ),
    )
