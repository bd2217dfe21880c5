"""Permanent records: PostgreSQL refuses UPDATE, DELETE and TRUNCATE of readings, positions, audit records
and signatures, whoever asks (the application's role included), declared with django-pgtrigger; its
ignore switch works for a superuser only (``monitoring.audit_triggers.ClosedTrigger``).

A partitioned table (readings, positions) passes its row triggers on to every partition, present and
future (PostgreSQL clones them), but not its statement triggers: ``protect_partition`` gives each
partition the same TRUNCATE trigger (same name, same function), called where partitions are made
(``monitoring/partitions.py``, migration 0022). Archiving never needs an exception: it detaches a
partition (``ALTER TABLE ... DETACH PARTITION``) and may drop the detached table, neither of which is an
UPDATE, DELETE or TRUNCATE.
"""

from __future__ import annotations

import pgtrigger

from coldchain.audit_triggers import ClosedTrigger

REFUSE_CHANGE = "refuse_update_delete"
REFUSE_TRUNCATE = "refuse_truncate"


def permanent_record_triggers() -> list[pgtrigger.Trigger]:
    return [
        ClosedTrigger(
            name=REFUSE_CHANGE,
            when=pgtrigger.Before,
            operation=pgtrigger.Update | pgtrigger.Delete,
            func="RAISE EXCEPTION '% of % refused: these records are permanent', TG_OP, TG_TABLE_NAME;",
        ),
        ClosedTrigger(
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
