"""Readings, positions, audit records and signatures refuse UPDATE, DELETE and TRUNCATE, for every role
the application uses, with no door left open: the purge that a session could enable
(``coldchain.allow_purge``, migration 0005) is gone, and so is every code path that used it (removing a
vendor account retires it instead). The triggers are django-pgtrigger's, declared on the models
(``monitoring/models/permanence.py``); migration 0005's hand-written ones go. Its function
``coldchain_refuse_change`` stays, refusing always, for the tables of archived months (their detached
partitions, ``monitoring/archive.py``).

A partitioned table clones its row triggers to each partition, not its statement ones: each existing
partition (and each archived month's table) gets the TRUNCATE refusal here, new ones where they are made.
"""

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations

REFUSE_ALWAYS = """
CREATE OR REPLACE FUNCTION coldchain_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% of % refused: these records are permanent', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""
PURGEABLE = """
CREATE OR REPLACE FUNCTION coldchain_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_ARGV[0] = 'purgeable'
       AND current_setting('coldchain.allow_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% of % refused: these records are permanent', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""
OLD_TRIGGERS = [
    ("monitoring_reading", "monitoring_reading_permanent"),
    ("monitoring_position", "monitoring_position_permanent"),
    ("monitoring_auditrecord", "monitoring_auditrecord_permanent"),
]
TRUNCATE_REFUSALS = {
    "monitoring_reading": "pgtrigger_refuse_truncate_690a8",
    "monitoring_position": "pgtrigger_refuse_truncate_4d7b7",
}


def drop_hand_written_triggers(apps, schema_editor):
    schema_editor.execute(REFUSE_ALWAYS, params=None)  # no placeholders: its % are PL/pgSQL's
    for table, name in OLD_TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")


def restore_hand_written_triggers(apps, schema_editor):
    schema_editor.execute(PURGEABLE, params=None)
    for table, name in OLD_TRIGGERS:
        mode = "never" if table == "monitoring_auditrecord" else "purgeable"
        schema_editor.execute(
            f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION coldchain_refuse_change('{mode}')"
        )


def _partitions_and_archived_tables(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass"
        " UNION SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE %s",
        [table, f"{table}_archived_%"],
    )
    return sorted(row[0] for row in cursor.fetchall())


def protect_partitions(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table, pgid in TRUNCATE_REFUSALS.items():
            for partition in _partitions_and_archived_tables(cursor, table):
                cursor.execute(
                    f"CREATE TRIGGER {pgid} BEFORE TRUNCATE ON {partition}"
                    f" FOR EACH STATEMENT EXECUTE FUNCTION {pgid}()"
                )


def unprotect_partitions(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table, pgid in TRUNCATE_REFUSALS.items():
            for partition in _partitions_and_archived_tables(cursor, table):
                cursor.execute(f"DROP TRIGGER IF EXISTS {pgid} ON {partition}")


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0021_audit_action_of_notifications"),
    ]

    operations = [
        migrations.RunPython(drop_hand_written_triggers, restore_hand_written_triggers),
        pgtrigger.migrations.AddTrigger(
            model_name="auditrecord",
            trigger=pgtrigger.compiler.Trigger(
                name="refuse_update_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION '% of % refused: these records are permanent', TG_OP, TG_TABLE_NAME;",
                    hash="67ec4dd133d9d7f07e1955b2513c1b78ec05e445",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_refuse_update_delete_e4c08",
                    table="monitoring_auditrecord",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="auditrecord",
            trigger=pgtrigger.compiler.Trigger(
                name="refuse_truncate",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'TRUNCATE of % refused: these records are permanent', TG_TABLE_NAME;",
                    hash="6bbfbcd15567a3ac4e894b46f41b208ed0a67559",
                    level="STATEMENT",
                    operation="TRUNCATE",
                    pgid="pgtrigger_refuse_truncate_544bf",
                    table="monitoring_auditrecord",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="excursionsignature",
            trigger=pgtrigger.compiler.Trigger(
                name="refuse_update_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION '% of % refused: these records are permanent', TG_OP, TG_TABLE_NAME;",
                    hash="927eaa297a49f50bf2caaa52384c9571bad51b06",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_refuse_update_delete_1ab17",
                    table="monitoring_excursionsignature",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="excursionsignature",
            trigger=pgtrigger.compiler.Trigger(
                name="refuse_truncate",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'TRUNCATE of % refused: these records are permanent', TG_TABLE_NAME;",
                    hash="bcfa124dfb20d59fb147206118b48d1eb35300ed",
                    level="STATEMENT",
                    operation="TRUNCATE",
                    pgid="pgtrigger_refuse_truncate_4ad9e",
                    table="monitoring_excursionsignature",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="position",
            trigger=pgtrigger.compiler.Trigger(
                name="refuse_update_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION '% of % refused: these records are permanent', TG_OP, TG_TABLE_NAME;",
                    hash="b3dbe2096114ad22a4ef561141b1b9b4e934b4c1",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_refuse_update_delete_b0ccd",
                    table="monitoring_position",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="position",
            trigger=pgtrigger.compiler.Trigger(
                name="refuse_truncate",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'TRUNCATE of % refused: these records are permanent', TG_TABLE_NAME;",
                    hash="13e9d96e2cee85e0158531f911832273e0c4c5a5",
                    level="STATEMENT",
                    operation="TRUNCATE",
                    pgid="pgtrigger_refuse_truncate_4d7b7",
                    table="monitoring_position",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="reading",
            trigger=pgtrigger.compiler.Trigger(
                name="refuse_update_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION '% of % refused: these records are permanent', TG_OP, TG_TABLE_NAME;",
                    hash="8c333cb0a480f605a63aab3a084920c32e71aa5b",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_refuse_update_delete_766b3",
                    table="monitoring_reading",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="reading",
            trigger=pgtrigger.compiler.Trigger(
                name="refuse_truncate",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'TRUNCATE of % refused: these records are permanent', TG_TABLE_NAME;",
                    hash="72dca5f5bf0881bc7842d0ad30e14ce9fa9e93e6",
                    level="STATEMENT",
                    operation="TRUNCATE",
                    pgid="pgtrigger_refuse_truncate_690a8",
                    table="monitoring_reading",
                    when="BEFORE",
                ),
            ),
        ),
        migrations.RunPython(protect_partitions, unprotect_partitions),
    ]
