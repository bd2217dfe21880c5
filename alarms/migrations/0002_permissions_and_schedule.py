"""The Admin role may configure alarm handling; QA may view it (and the log of notices). The beat runs
the escalations every minute, and sends webhook deliveries never tried every 5 minutes (editable in the
admin)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant_permissions(apps, schema_editor):
    app_config = apps.get_app_config("alarms")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label="alarms")
    admin, _ = Group.objects.get_or_create(name="Admin")
    admin.permissions.add(*ours)
    qa, _ = Group.objects.get_or_create(name="QA")
    qa.permissions.add(*ours.filter(codename__startswith="view_").exclude(codename="view_notificationchannel"))


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Escalate unacknowledged excursions (escalation policies)",
        defaults={"task": "alarms.tasks.run_escalations", "interval": every_minute, "expire_seconds": 55},
    )
    every_5, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Send webhook deliveries never tried",
        defaults={"task": "alarms.tasks.queue_stuck_webhooks", "interval": every_5, "expire_seconds": 280},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("alarms", "0001_initial"),
        ("monitoring", "0006_excursion_roles_and_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [
        migrations.RunPython(grant_permissions, migrations.RunPython.noop),
        migrations.RunPython(create_schedule, migrations.RunPython.noop),
    ]
