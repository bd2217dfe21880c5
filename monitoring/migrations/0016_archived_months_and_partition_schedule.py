"""Archived months (where a month of readings or positions went), the admin's list of partitions (a view
over PostgreSQL's catalog), the audit actions of archiving, and the hourly beat schedule that creates
the next months' partitions (``monitoring.tasks.maintain_partitions``, editable in the admin)."""

import django.utils.timezone
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

# One row per partition of the readings and positions: its month comes from its name (..._yYYYYmMM),
# none for the default partition; the row count is PostgreSQL's estimate (what the admin can afford).
PARTITIONS_VIEW = r"""
CREATE VIEW monitoring_monthpartition AS
SELECT c.relname::varchar(63) AS name,
       p.relname::varchar(63) AS "table",
       CASE WHEN c.relname ~ '_y[0-9]{4}m[0-9]{2}$'
            THEN to_date(substring(c.relname from '_y([0-9]{4}m[0-9]{2})$'), 'YYYY"m"MM')
       END AS month,
       greatest(c.reltuples, 0)::bigint AS estimated_rows,
       pg_total_relation_size(c.oid) AS size_bytes
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname IN ('monitoring_reading', 'monitoring_position')
  AND p.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
"""


def grant_permissions(apps, schema_editor):
    """Admin may see the partitions and archive old months; everyone who may see readings sees where
    archived months went."""
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label="monitoring")
    admin, _ = Group.objects.get_or_create(name="Admin")
    admin.permissions.add(
        *ours.filter(codename__in=["view_monthpartition", "archive_monthpartition", "view_archivedmonth"])
    )
    qa, _ = Group.objects.get_or_create(name="QA")
    qa.permissions.add(*ours.filter(codename="view_archivedmonth"))


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name="Create the next months' partitions of readings and positions",
        defaults={"task": "monitoring.tasks.maintain_partitions", "interval": hourly, "expire_seconds": 3300},
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task="monitoring.tasks.maintain_partitions").delete()


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0015_readings_and_positions_partitioned_by_month'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.CreateModel(
            name='MonthPartition',
            fields=[
                ('name', models.CharField(max_length=63, primary_key=True, serialize=False)),
                ('table', models.CharField(max_length=63)),
                ('month', models.DateField(help_text='Empty for the default partition.', null=True)),
                ('estimated_rows', models.BigIntegerField(help_text="PostgreSQL's estimate (exact after ANALYZE).")),
                ('size_bytes', models.BigIntegerField()),
            ],
            options={
                'db_table': 'monitoring_monthpartition',
                'ordering': ['table', 'month'],
                'permissions': [('archive_monthpartition', 'Can archive months of readings and positions')],
                'managed': False,
            },
        ),
        migrations.RunSQL(PARTITIONS_VIEW, "DROP VIEW IF EXISTS monitoring_monthpartition"),
        migrations.AlterField(
            model_name='auditrecord',
            name='action',
            field=models.CharField(choices=[('create', 'Created'), ('update', 'Changed'), ('delete', 'Deleted'), ('acknowledge', 'Acknowledged (signed)'), ('close', 'Closed (signed)'), ('sign_refused', 'Signature refused (wrong password)'), ('locked_out', 'Locked out (too many refused signatures)'), ('archive', 'Archived to a file'), ('verify', 'Archive verified'), ('refuse', 'Archive refused'), ('detach', 'Partition detached'), ('drop', 'Detached partition dropped')], max_length=12),
        ),
        migrations.CreateModel(
            name='ArchivedMonth',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('table', models.CharField(choices=[('monitoring_reading', 'monitoring_reading'), ('monitoring_position', 'monitoring_position')], max_length=63)),
                ('month', models.DateField(help_text='The first day of the month (UTC).')),
                ('file', models.CharField(help_text='The Parquet file.', max_length=500)),
                ('manifest', models.CharField(help_text='The JSON manifest beside it.', max_length=500)),
                ('sha256', models.CharField(help_text='SHA-256 of the file, as the manifest has it.', max_length=64)),
                ('row_checksum', models.CharField(help_text="SHA-256 of the rows' columns (see the manifest).", max_length=64)),
                ('row_count', models.BigIntegerField()),
                ('first_time', models.DateTimeField(blank=True, null=True)),
                ('last_time', models.DateTimeField(blank=True, null=True)),
                ('state', models.CharField(choices=[('written', 'Written, not yet verified'), ('detached', 'Verified and detached (kept as a table)'), ('dropped', 'Verified, detached and dropped'), ('refused', 'Verification failed: nothing detached')], default='written', max_length=10)),
                ('detached_table', models.CharField(blank=True, help_text='The detached partition, kept as a table (empty once dropped).', max_length=63)),
                ('problem', models.TextField(blank=True, help_text='Why the verification failed.')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('created_by', models.CharField(max_length=150)),
            ],
            options={
                'ordering': ['table', '-month', '-created_at'],
                'constraints': [models.UniqueConstraint(condition=models.Q(('state__in', ['detached', 'dropped'])), fields=('table', 'month'), name='one_archive_per_month')],
            },
        ),
        migrations.RunPython(grant_permissions, migrations.RunPython.noop),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
