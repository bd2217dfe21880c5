"""Calibration certificates: QA may view them (and download their PDFs), the Admin role manage them; the
beat sends the due-soon reminders daily at 07:00 UTC."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def forwards(apps, schema_editor):
    app_config = apps.get_app_config("alarms")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label="alarms")
    Group.objects.get_or_create(name="Admin")[0].permissions.add(*ours)
    Group.objects.get_or_create(name="QA")[0].permissions.add(*ours.filter(codename="view_calibrationcertificate"))
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="7", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name="Remind of calibrations due soon",
        defaults={"task": "alarms.tasks.remind_calibrations", "crontab": daily},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("alarms", "0007_calibration_certificates"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
