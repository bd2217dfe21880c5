"""Readings and audit records cannot be updated or deleted: PostgreSQL refuses it, not only Python.

A DELETE of readings is let through only inside an explicit purge (``monitoring.audit.purge_allowed()``,
which runs ``SET LOCAL coldchain.allow_purge = 'on'``), e.g. when a vendor account and all its data are
removed. Audit records are never deleted. (TRUNCATE is not a row change and is not refused: it is what a
test database flush does.)
"""

from django.db import migrations

FUNCTION = """
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
TRIGGERS = [
    ("monitoring_reading", "monitoring_reading_permanent", "purgeable"),
    ("monitoring_auditrecord", "monitoring_auditrecord_permanent", "never"),
]


def create_triggers(apps, schema_editor):
    schema_editor.execute(FUNCTION, params=None)  # no placeholders: its % are PL/pgSQL's
    for table, name, mode in TRIGGERS:
        schema_editor.execute(
            f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION coldchain_refuse_change('{mode}')"
        )


def drop_triggers(apps, schema_editor):
    for table, name, _ in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS coldchain_refuse_change()")


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0004_audit_trail_and_report_subscriptions")]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]
