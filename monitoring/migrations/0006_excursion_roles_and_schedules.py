"""Roles for the excursion work (QA: view everything, acknowledge and close excursions; Admin: all) and
the beat schedules of the excursion tasks and reports (editable in the admin)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CONFIGURED_APPS = ["vendors", "monitoring", "django_celery_beat"]
QA_EXTRA = ["acknowledge_excursion", "close_excursion", "acknowledge_vendoralert"]


def grant_permissions(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label__in=CONFIGURED_APPS)
    qa, _ = Group.objects.get_or_create(name="QA")
    qa.permissions.add(
        *[
            p
            for p in ours
            if p.content_type.app_label != "django_celery_beat"
            and (p.codename.startswith("view_") or p.codename in QA_EXTRA)
        ]
    )
    admin, _ = Group.objects.get_or_create(name="Admin")
    admin.permissions.add(*ours)


def create_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_5, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    for name, task in [
        ("Open no-data excursions", "monitoring.tasks.open_no_data_excursions"),
        ("Remind and escalate unacknowledged excursions", "monitoring.tasks.send_excursion_reminders"),
        ("Tell administrators about vendor accounts needing attention", "monitoring.tasks.notify_accounts"),
    ]:
        PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "interval": every_5, "expire_seconds": 280}
        )
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="6", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    weekly, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="6", day_of_week="1", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    for name, crontab, frequency in [
        ("Daily excursion report", daily, "daily"),
        ("Weekly excursion report", weekly, "weekly"),
    ]:
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={
                "task": "monitoring.tasks.send_excursion_reports",
                "crontab": crontab,
                "kwargs": f'{{"frequency": "{frequency}"}}',
            },
        )


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0005_readings_and_audit_are_permanent"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [
        migrations.RunPython(grant_permissions, migrations.RunPython.noop),
        migrations.RunPython(create_schedules, migrations.RunPython.noop),
    ]
