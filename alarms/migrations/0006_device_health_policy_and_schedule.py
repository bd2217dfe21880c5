"""Device-health alarms: QA and Admin may view and acknowledge them; the default policy "Device health
(default)" reaches the Admin role in business hours (quiet 18:00 to 08:00 in the TIME_ZONE of the
settings), again every day until acknowledged; the beat checks device health every 5 minutes."""

import datetime

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations


def forwards(apps, schema_editor):
    app_config = apps.get_app_config("alarms")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    health = Permission.objects.filter(
        content_type__app_label="alarms", codename__in=["view_healthalarm", "acknowledge_healthalarm"]
    )
    admin, _ = Group.objects.get_or_create(name="Admin")
    qa, _ = Group.objects.get_or_create(name="QA")
    admin.permissions.add(*Permission.objects.filter(content_type__app_label="alarms"))
    qa.permissions.add(*health)

    EscalationPolicy = apps.get_model("alarms", "EscalationPolicy")
    EscalationLevel = apps.get_model("alarms", "EscalationLevel")
    if not EscalationPolicy.objects.filter(for_device_health=True).exists():
        policy = EscalationPolicy.objects.create(
            name="Device health (default)",
            description="Low battery, sensor error, no data, sync failing: the Admin role, in business hours.",
            for_device_health=True,
            repeat_minutes=24 * 60,
            time_zone=settings.TIME_ZONE,
            quiet_hours_start=datetime.time(18, 0),
            quiet_hours_end=datetime.time(8, 0),
        )
        level = EscalationLevel.objects.create(policy=policy, position=1, delay_minutes=0)
        level.groups.add(admin)

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_5, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Check device health (battery, sensor errors, silent devices, failing syncs)",
        defaults={"task": "alarms.tasks.check_device_health", "interval": every_5, "expire_seconds": 280},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("alarms", "0005_device_health_alarms"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
