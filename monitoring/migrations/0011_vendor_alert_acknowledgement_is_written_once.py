"""A vendor alert's acknowledgement (who, when, the comment) is written once, by the acknowledge action:
PostgreSQL refuses any other change to those columns, so neither the admin, nor a bug, nor a hand-made
SQL session can forge or rewrite one. The action runs inside ``monitoring.audit.acknowledging()``, which
sets ``coldchain.acknowledging`` for its transaction only (``SET LOCAL``). Other columns (the end time the
vendor reports later, the device) may change; every change is in the audit trail (signals).
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION coldchain_vendoralert_acknowledged_once() RETURNS trigger AS $$
BEGIN
    IF (NEW.acknowledged_at, NEW.acknowledged_by_id, NEW.acknowledgement_comment)
       IS DISTINCT FROM (OLD.acknowledged_at, OLD.acknowledged_by_id, OLD.acknowledgement_comment)
       AND (OLD.acknowledged_at IS NOT NULL
            OR current_setting('coldchain.acknowledging', true) IS DISTINCT FROM 'on') THEN
        RAISE EXCEPTION 'UPDATE of the acknowledgement of % refused: only the acknowledge action sets it, once',
            TG_TABLE_NAME;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # no placeholders: its % are PL/pgSQL's
    schema_editor.execute(
        "CREATE TRIGGER monitoring_vendoralert_acknowledged_once BEFORE UPDATE ON monitoring_vendoralert "
        "FOR EACH ROW EXECUTE FUNCTION coldchain_vendoralert_acknowledged_once()"
    )


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "DROP TRIGGER IF EXISTS monitoring_vendoralert_acknowledged_once ON monitoring_vendoralert"
    )
    schema_editor.execute("DROP FUNCTION IF EXISTS coldchain_vendoralert_acknowledged_once()")


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0010_audit_of_refused_signatures_and_lockouts")]
    operations = [migrations.RunPython(create_trigger, drop_trigger)]
