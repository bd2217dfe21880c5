"""Each channel's evaluation watermark, and the beat that evaluates every channel behind its watermark.

Channels that exist already were evaluated by the engine as their readings arrived: their watermark starts
at their latest reading, so the first beat does not replay their whole history."""

from django.db import migrations, models


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Evaluate readings not evaluated yet",
        defaults={"task": "monitoring.tasks.evaluate_readings", "interval": every_minute, "expire_seconds": 55},
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task="monitoring.tasks.evaluate_readings").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("monitoring", "0019_report_time_zone"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="channel",
            name="evaluated_until",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="channel",
            name="pending_from",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunSQL(
            "UPDATE monitoring_channel SET evaluated_until = last_reading_at", migrations.RunSQL.noop
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
