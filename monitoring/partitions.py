"""The monthly partitions of the readings and positions: made ahead, and the default partition watched.

Both tables are partitioned by month of ``timestamp`` (UTC; migration 0015): ``monitoring_reading_y2026m12``
holds December 2026. Rules:

- The months from last month to ``PARTITIONS_AHEAD_MONTHS`` ahead always have their partition: the
  hourly beat task and every ``migrate`` make them, so an insert never waits for one.
- A reading with no month partition lands in the default partition (``monitoring_reading_default``),
  so an insert never fails. That happens to a reading far in the past (older than the retention,
  ``READINGS_RETENTION_MONTHS``, or of a month already archived) or far in the future (beyond the months
  made ahead): a logger's clock gone wrong, usually. The hourly task logs a warning about them and the
  sync status page shows them. A month inside the retention without a partition (an old backfill of a
  new device, a month missed while the beat was down) gets its partition at the next run, and its rows
  move there from the default partition (PostgreSQL refuses a new partition while the default one holds
  rows of its range).
- Moving rows out of the default partition never deletes a reading: the default partition is detached,
  the month's partition and a new default partition are created, every row of the old default partition
  is inserted again through the parent (each goes to its month), the counts are compared, and only then
  is the old default partition dropped as a table.
- Each partition refuses UPDATE and DELETE (row triggers, cloned from the parent by PostgreSQL) and
  TRUNCATE (``protect_partition`` gives it the parent's statement trigger when it is made).

Creating or detaching a partition needs a short exclusive lock of the parent table: it waits at most
``PARTITION_LOCK_TIMEOUT_SECONDS`` (a long chart query holds a shared lock), else gives up until the next
run, with months to spare.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from monitoring.models import Position, Reading
from monitoring.models.archive import ARCHIVED_TABLES, ArchivedMonth, ArchiveState
from monitoring.models.permanence import protect_partition

logger = logging.getLogger(__name__)

TABLES = tuple(ARCHIVED_TABLES)
_MONTH_NAME = re.compile(r"_y(\d{4})m(\d{2})$")


def first_of_month(moment: datetime | date) -> date:
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def month_start(month: date) -> datetime:
    """The month's first instant, in UTC (partitions are cut at UTC month boundaries)."""
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def partition_name(table: str, month: date) -> str:
    return f"{table}_y{month:%Y}m{month:%m}"


def default_partition(table: str) -> str:
    return f"{table}_default"


def archived_table_name(table: str, month: date) -> str:
    return f"{table}_archived_{month:%Y_%m}"


def is_partitioned(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = %s AND relkind = 'p'"
            " AND relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()))",
            [table],
        )
        return cursor.fetchone()[0]


def attached_months(table: str) -> dict[date, str]:
    """The month partitions of ``table`` now attached, by month."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    months = {}
    for name in names:
        found = _MONTH_NAME.search(name)
        if found and name == partition_name(table, date(int(found[1]), int(found[2]), 1)):
            months[date(int(found[1]), int(found[2]), 1)] = name
    return months


def archived_months(table: str) -> set[date]:
    return set(
        ArchivedMonth.objects.filter(
            table=table, state__in=[ArchiveState.DETACHED, ArchiveState.DROPPED]
        ).values_list("month", flat=True)
    )


def retention_cutoff(now: datetime | None = None) -> date:
    """The oldest month kept online: every month before it is older than ``READINGS_RETENTION_MONTHS``
    and is archived (``monitoring/archive.py``)."""
    return add_months(first_of_month(now or timezone.now()), -settings.READINGS_RETENTION_MONTHS)


def months_ahead(now: datetime | None = None, ahead: int | None = None) -> list[date]:
    """Last month, this month and the ``PARTITIONS_AHEAD_MONTHS`` after it (a sync's backfill reaches
    into last month early in a month)."""
    ahead = settings.PARTITIONS_AHEAD_MONTHS if ahead is None else ahead
    this_month = first_of_month(now or timezone.now())
    return [add_months(this_month, k) for k in range(-1, ahead + 1)]


@dataclass(frozen=True)
class StrayMonth:
    """Rows of one month held in the default partition, and why they have no partition of their own."""

    table: str
    month: date
    rows: int
    first: datetime
    last: datetime
    reason: str

    @property
    def what(self) -> str:
        return ARCHIVED_TABLES[self.table]

    def __str__(self) -> str:
        what = self.what if self.rows != 1 else self.what.removesuffix("s")
        return (
            f"{self.rows} {what} of {self.month:%Y-%m} ({self.first:%Y-%m-%d %H:%M} to "
            f"{self.last:%Y-%m-%d %H:%M} UTC) in {default_partition(self.table)}: {self.reason}"
        )


def default_partition_months(table: str) -> list[tuple[date, int, datetime, datetime]]:
    """(month, rows, first, last) of the rows in ``table``'s default partition. The default partition
    is meant to stay small (stray rows only), so counting it is cheap."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT date_trunc('month', timestamp AT TIME ZONE 'UTC')::date, count(*), min(timestamp),"  # noqa: S608
            f" max(timestamp) FROM {default_partition(table)} GROUP BY 1 ORDER BY 1"
        )
        return cursor.fetchall()


def create_month_partition(table: str, month: date) -> str:
    """Create ``table``'s partition of ``month``, moving its rows out of the default partition if it
    holds any. Returns the partition's name."""
    name = partition_name(table, month)
    start, end = month_start(month), month_start(add_months(month, 1))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, true)", [f"{settings.PARTITION_LOCK_TIMEOUT_SECONDS}s"]
        )
        # The parent first: every insert takes it first too, so no deadlock.
        cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        if month in attached_months(table):
            return name
        default = default_partition(table)
        cursor.execute(
            f"SELECT count(*) FROM {default} WHERE timestamp >= %s AND timestamp < %s",  # noqa: S608
            [start, end],
        )
        strays = cursor.fetchone()[0]
        bounds = f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        if not strays:
            cursor.execute(f"CREATE TABLE {name} PARTITION OF {table} {bounds}")
            _protect(cursor, table, name)
            logger.info("Created the partition %s", name)
            return name
        moving = f"{default}_moving"
        cursor.execute(f"SELECT count(*) FROM {default}")  # noqa: S608
        total = cursor.fetchone()[0]
        cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {default}")
        cursor.execute(f"ALTER TABLE {default} RENAME TO {moving}")
        cursor.execute(f"CREATE TABLE {name} PARTITION OF {table} {bounds}")
        cursor.execute(f"CREATE TABLE {default} PARTITION OF {table} DEFAULT")
        _protect(cursor, table, name)
        _protect(cursor, table, default)
        columns = _columns(cursor, moving)
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {moving}")  # noqa: S608
        moved = cursor.rowcount
        cursor.execute(f"SELECT count(*) FROM {name}")  # noqa: S608
        landed = cursor.fetchone()[0]
        if moved != total or landed != strays:
            raise RuntimeError(
                f"{table}: moving the default partition's rows put {moved} of {total} back, "
                f"{landed} of {strays} into {name}: nothing changed"
            )
        # Every row is in the table again: the detached copy goes as a table, no row deleted one by one.
        cursor.execute(f"DROP TABLE {moving}")
        logger.warning("Created the partition %s and moved its %d rows there from %s", name, strays, default)
        return name


def _protect(cursor, table: str, partition: str) -> None:
    model = {Reading._meta.db_table: Reading, Position._meta.db_table: Position}[table]
    protect_partition(cursor, model, partition)


def _columns(cursor, table: str) -> str:
    cursor.execute(
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [table],
    )
    return cursor.fetchone()[0]


def stray_months(table: str, now: datetime | None = None) -> list[StrayMonth]:
    """The months whose rows sit in the default partition, each with the reason."""
    rows = default_partition_months(table)
    if not rows:
        return []
    archived = archived_months(table)
    oldest = retention_cutoff(now)
    last_ahead = months_ahead(now)[-1]
    strays = []
    for month, count, first, last in rows:
        if month in archived:
            reason = "its month is archived"
        elif month > last_ahead:
            reason = f"far in the future (partitions are made up to {last_ahead:%Y-%m})"
        elif month < oldest:
            reason = f"far in the past (older than the retention, {oldest:%Y-%m})"
        else:
            reason = "its month has no partition yet (made at the next hourly run)"
        strays.append(StrayMonth(table, month, count, first, last, reason))
    return strays


def ensure_partitions(now: datetime | None = None) -> list[str]:
    """Create the partitions of the months ahead, and of any month inside the retention whose rows wait
    in the default partition. Returns the partitions created."""
    created = []
    for table in TABLES:
        if not is_partitioned(table):
            continue
        attached = attached_months(table)
        archived = archived_months(table)
        wanted = set(months_ahead(now))
        oldest, last_ahead = retention_cutoff(now), max(wanted)
        for month, *_ in default_partition_months(table):
            if oldest <= month <= last_ahead:
                wanted.add(month)
        for month in sorted(wanted - set(attached) - archived):
            created.append(create_month_partition(table, month))
    return created


def all_stray_months(now: datetime | None = None) -> list[StrayMonth]:
    """The months held in the default partitions of the readings and positions (the sync status page)."""
    return [stray for table in TABLES if is_partitioned(table) for stray in stray_months(table, now)]


def report_strays(now: datetime | None = None) -> list[StrayMonth]:
    """Log a warning for each month held in a default partition; returns them."""
    strays = all_stray_months(now)
    for stray in strays:
        logger.warning("No month partition for %s", stray)
    return strays


def maintain_partitions(now: datetime | None = None) -> dict:
    """What the hourly beat task does: make the months ahead, then report what the default holds."""
    created = ensure_partitions(now)
    strays = report_strays(now)
    return {"created": created, "stray_rows": sum(s.rows for s in strays)}
