"""The two roles ("QA": view and acknowledge; "Admin": configure) and the default beat schedules."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

QA_PERMISSIONS = ["view_", "acknowledge_"]
CONFIGURED_APPS = ["vendors", "monitoring", "django_celery_beat"]


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label__in=CONFIGURED_APPS)
    qa, _ = Group.objects.get_or_create(name="QA")
    qa.permissions.set(
        [p for p in ours if p.content_type.app_label != "django_celery_beat" and p.codename.startswith(tuple(QA_PERMISSIONS))]
    )
    admin, _ = Group.objects.get_or_create(name="Admin")
    admin.permissions.set(list(ours))


def create_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Sync vendor accounts that are due",
        defaults={
            "task": "vendors.tasks.sync_due_accounts",
            "interval": every_minute,
            # A run that has waited longer than its interval is dropped: the next one does its work.
            "expires": None,
            "expire_seconds": 55,
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_initial"),
        ("vendors", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(create_schedules, migrations.RunPython.noop),
    ]
