"""Business hours are Monday to Friday: the default device-health policy (0006) is quiet on Saturday and
Sunday too, not only from 18:00 to 08:00. A policy an administrator has already changed keeps its days."""

import coldchain.audit_triggers
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models


def weekends_are_quiet(apps, schema_editor):
    EscalationPolicy = apps.get_model("alarms", "EscalationPolicy")
    EscalationPolicy.objects.filter(
        name="Device health (default)", for_device_health=True, quiet_days=""
    ).update(
        quiet_days="5,6",
        description="Low battery, sensor error, no data, sync failing: the Admin role, in business hours "
        "(Monday to Friday, 08:00 to 18:00).",
    )


class Migration(migrations.Migration):

    dependencies = [
        ('alarms', '0011_audit_triggers_and_notifications_written_once'),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name='escalationpolicy',
            name='audit',
        ),
        migrations.AddField(
            model_name='escalationpolicy',
            name='quiet_days',
            field=models.CharField(blank=True, help_text='Days quiet from midnight to midnight (0 = Monday ... 6 = Sunday, comma-separated), e.g. 5,6: warnings wait for the next working day. Severity "alarm" never waits.', max_length=20),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='escalationpolicy',
            trigger=pgtrigger.compiler.Trigger(name='audit', sql=coldchain.audit_triggers.SuperuserMayIgnoreTriggerSql(func='PERFORM coldchain_audit_row(TG_OP, \'alarms.escalationpolicy\', to_jsonb(OLD), to_jsonb(NEW), \'{"description": "description", "enabled": "enabled", "for_device_health": "for_device_health", "name": "name", "quiet_days": "quiet_days", "quiet_hours_end": "quiet_hours_end", "quiet_hours_start": "quiet_hours_start", "repeat_minutes": "repeat_minutes", "time_zone": "time_zone"}\'::jsonb, ARRAY[]::text[], (SELECT row_data->>\'name\' FROM (SELECT COALESCE(to_jsonb(NEW), to_jsonb(OLD)) AS row_data) AS r)); RETURN NULL;', hash='e435b6248f8531f63e2f67c6731afaa849993355', operation='INSERT OR UPDATE OR DELETE', pgid='pgtrigger_audit_f5801', table='alarms_escalationpolicy', when='AFTER')),
        ),
        migrations.RunPython(weekends_are_quiet, migrations.RunPython.noop),
    ]
