"""``manage.py archive_readings [--before YYYY-MM] [--dry-run]``: whole months of readings and positions older
than ``READINGS_RETENTION_MONTHS`` to verified Parquet files, then their partitions detached (see
``monitoring/archive.py``)."""

from __future__ import annotations

import getpass
from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from monitoring import archive
from monitoring.models.archive import ARCHIVED_TABLES
from monitoring.partitions import partition_name, retention_cutoff


def parse_month(value: str) -> date:
    try:
        year, month = value.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise CommandError(f"--before: expected a month as YYYY-MM, got {value!r}") from None


class Command(BaseCommand):
    help = (
        "Archive whole months of readings and positions older than READINGS_RETENTION_MONTHS to Parquet "
        "files with a manifest (ARCHIVE_DIR), verify each file against its partition, then detach it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--before",
            default="",
            metavar="YYYY-MM",
            help="archive only the months before this one (at most the retention's limit)",
        )
        parser.add_argument("--dry-run", action="store_true", help="list the months, archive nothing")

    def handle(self, *args, before: str, dry_run: bool, **options):
        limit = parse_month(before) if before else None
        try:
            months = {table: archive.archivable_months(table, limit) for table in ARCHIVED_TABLES}
        except archive.ArchiveError as exc:
            raise CommandError(f"--before: {exc}") from None
        cutoff = retention_cutoff()
        if not any(months.values()):
            self.stdout.write(
                f"Nothing to archive: no month before {(limit or cutoff):%Y-%m} is still attached "
                f"(retention {settings.READINGS_RETENTION_MONTHS} months)."
            )
            return
        by = f"manage.py archive_readings ({getpass.getuser()})"
        refused = []
        for table, table_months in months.items():
            for month in table_months:
                label = f"{ARCHIVED_TABLES[table]} of {month:%Y-%m}"
                if dry_run:
                    self.stdout.write(f"Would archive {label}: {self._count(table, month):,} rows")
                    continue
                try:
                    entry = archive.archive_month(table, month, by=by)
                except archive.ArchiveError as exc:
                    refused.append(label)
                    self.stderr.write(f"Refused {label}: {exc}")
                    continue
                kept = f"kept as {entry.detached_table}" if entry.detached_table else "dropped"
                self.stdout.write(
                    f"Archived {label}: {entry.row_count:,} rows to {entry.file} "
                    f"(manifest {entry.manifest}); "
                    f"verified; partition detached, {kept}"
                )
        if refused:
            raise CommandError(
                f"{len(refused)} month(s) refused, nothing detached for them: {', '.join(refused)}"
            )

    def _count(self, table: str, month: date) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {partition_name(table, month)}")  # noqa: S608
            return cursor.fetchone()[0]
