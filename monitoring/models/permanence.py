"""Permanent records: PostgreSQL refuses UPDATE, DELETE and TRUNCATE of readings, positions, audit records
and signatures, whoever asks (the application's role included), declared with django-pgtrigger.

A partitioned table (readings, positions) passes its row triggers on to every partition, present and
future (PostgreSQL clones them), but not its statement triggers: ``protect_partition`` gives each
partition the same TRUNCATE trigger (same name, same function), called where partitions are made
(``monitoring/partitions.py``, migration 0018). Archiving never needs an exception: it detaches a
partition (``ALTER TABLE ... DETACH PARTITION``) and may drop the detached table, neither of which is an
UPDATE, DELETE or TRUNCATE.
"""

from __future__ import annotations

import pgtrigger
import pgtrigger.compiler

REFUSE_CHANGE = "refuse_update_delete"
REFUSE_TRUNCATE = "refuse_truncate"


class SuperuserMayIgnoreTriggerSql(pgtrigger.compiler.UpsertTriggerSql):
    """django-pgtrigger's trigger SQL, but its ignore switch (``pgtrigger.ignore``, a session setting any
    role may set) works only for a superuser, who could disable the trigger anyway: for the application's
    role no setting opens a door. (The test runner, a superuser, empties its test database with it.)"""

    CHECK = "IF ({ignore_func_name}(TG_NAME) IS TRUE) THEN"

    def get_template(self) -> str:
        template = super().get_template()
        if self.CHECK not in template:  # a new django-pgtrigger: see that its switch stays closed
            raise RuntimeError("django-pgtrigger's trigger template changed: review permanence.py")
        return template.replace(
            self.CHECK,
            "IF ({ignore_func_name}(TG_NAME) IS TRUE AND current_setting('is_superuser') = 'on') THEN",
        )


class PermanentRecordTrigger(pgtrigger.Trigger):
    def compile(self, model) -> pgtrigger.compiler.Trigger:
        compiled = super().compile(model)
        return pgtrigger.compiler.Trigger(
            name=compiled.name, sql=SuperuserMayIgnoreTriggerSql(**compiled.sql.kwargs)
        )


def permanent_record_triggers() -> list[pgtrigger.Trigger]:
    return [
        PermanentRecordTrigger(
            name=REFUSE_CHANGE,
            when=pgtrigger.Before,
            operation=pgtrigger.Update | pgtrigger.Delete,
            func="RAISE EXCEPTION '% of % refused: these records are permanent', TG_OP, TG_TABLE_NAME;",
        ),
        PermanentRecordTrigger(
            name=REFUSE_TRUNCATE,
            when=pgtrigger.Before,
            operation=pgtrigger.Truncate,
            level=pgtrigger.Statement,
            func="RAISE EXCEPTION 'TRUNCATE of % refused: these records are permanent', TG_TABLE_NAME;",
        ),
    ]


def truncate_trigger_id(model) -> str:
    """The name (and function) of ``model``'s TRUNCATE refusal in PostgreSQL."""
    trigger = next(t for t in model._meta.triggers if t.name == REFUSE_TRUNCATE)
    return trigger.get_pgid(model)


def protect_partition(cursor, model, partition: str) -> None:
    """Give one partition of ``model``'s table its parent's TRUNCATE refusal (the row triggers it has
    already: PostgreSQL clones them)."""
    pgid = truncate_trigger_id(model)
    cursor.execute(f"DROP TRIGGER IF EXISTS {pgid} ON {partition}")
    cursor.execute(
        f"CREATE TRIGGER {pgid} BEFORE TRUNCATE ON {partition} FOR EACH STATEMENT EXECUTE FUNCTION {pgid}()"
    )
