"""Months of readings and positions archived to files, and the monthly partitions as the admin lists them.

Archiving never deletes a reading: a whole month goes to a Parquet file with a manifest, the file is
verified against the month's partition, and only then is the partition detached (kept as a table, or
dropped when ``ARCHIVE_DROP_DETACHED`` allows it). See ``monitoring/archive.py``.
"""

from __future__ import annotations

from datetime import date

from django.db import models
from django.utils import timezone

from monitoring.choices import ArchiveState

# The two tables partitioned by month, and what their rows are called on pages.
ARCHIVED_TABLES = {"monitoring_reading": "readings", "monitoring_position": "positions"}


class ArchivedMonth(models.Model):
    """One attempt to archive one month of one table, and where its rows went."""

    table = models.CharField(max_length=63, choices=[(t, t) for t in ARCHIVED_TABLES])
    month = models.DateField(help_text="The first day of the month (UTC).")
    file = models.CharField(max_length=500, help_text="The Parquet file.")
    manifest = models.CharField(max_length=500, help_text="The JSON manifest beside it.")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the file, as the manifest has it.")
    row_checksum = models.CharField(
        max_length=64, help_text="SHA-256 of the rows' columns (see the manifest)."
    )
    row_count = models.BigIntegerField()
    first_time = models.DateTimeField(null=True, blank=True)
    last_time = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=ArchiveState.choices, default=ArchiveState.WRITTEN)
    detached_table = models.CharField(
        max_length=63, blank=True, help_text="The detached partition, kept as a table (empty once dropped)."
    )
    problem = models.TextField(blank=True, help_text="Why the verification failed.")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150)

    class Meta:
        ordering = ["table", "-month", "-created_at"]
        constraints = [
            # One month is archived (detached) once; refused attempts are kept beside it.
            models.UniqueConstraint(
                fields=["table", "month"],
                condition=models.Q(state__in=["detached", "dropped"]),
                name="one_archive_per_month",
            )
        ]

    def __str__(self) -> str:
        return f"{self.table} {self.month:%Y-%m} ({self.get_state_display()})"

    @property
    def done(self) -> bool:
        return self.state in (ArchiveState.DETACHED, ArchiveState.DROPPED)

    @property
    def what(self) -> str:
        return ARCHIVED_TABLES.get(self.table, self.table)


class MonthPartition(models.Model):
    """A partition of the readings or positions (a database view over PostgreSQL's catalog, migration
    0015): what the admin lists, and where its "archive" action starts."""

    name = models.CharField(max_length=63, primary_key=True)
    table = models.CharField(max_length=63)
    month = models.DateField(null=True, help_text="Empty for the default partition.")
    estimated_rows = models.BigIntegerField(help_text="PostgreSQL's estimate (exact after ANALYZE).")
    size_bytes = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "monitoring_monthpartition"
        ordering = ["table", "month"]
        permissions = [("archive_monthpartition", "Can archive months of readings and positions")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_default(self) -> bool:
        return self.month is None

    def month_label(self) -> str:
        return self.month.strftime("%Y-%m") if isinstance(self.month, date) else "default"
