"""Readings and positions partitioned by month: partitions made ahead, stray rows in the default partition,
permanence on every partition, the conversion of an existing table, and archive -> verify -> detach."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from monitoring import archive, partitions, selectors, tasks
from monitoring.ingest import NewReadings, ingest_positions, ingest_readings, update_rollups
from monitoring.models import (
    ArchivedMonth,
    AuditRecord,
    Channel,
    Device,
    MonthPartition,
    Position,
    Reading,
    ReadingRollup,
)
from monitoring.partitions import add_months, first_of_month, month_start, partition_name
from tests.factories import make_account, make_user
from vendors.clients.records import PositionRecord, ReadingRecord, batches_of

READINGS, POSITIONS = "monitoring_reading", "monitoring_position"
_OUR_TABLES = r"^monitoring_(reading|position)_(y[0-9]{4}m[0-9]{2}|archived_[0-9]{4}_[0-9]{2})$"


def where(table: str, **match) -> list[str]:
    """The partitions (by name) that hold the rows of ``table`` matching ``match``."""
    condition = " AND ".join(f"{column} = %s" for column in match)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT tableoid::regclass::text FROM {table} WHERE {condition}", list(match.values())
        )
        return sorted(row[0] for row in cursor.fetchall())


def tables_named_like_ours() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND relname ~ %s", [_OUR_TABLES]
        )
        return {row[0] for row in cursor.fetchall()}


# Tests that commit (partitions made and detached for real, as in production: DDL there never follows
# inserts in the same transaction); they find the roles and schedules of the data migrations (reloaded).
commits = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def restore_partitions(transactional_db):
    """Tests that commit leave the schema as they found it."""
    before = tables_named_like_ours()
    yield
    with connection.cursor() as cursor:
        for name in sorted(tables_named_like_ours() - before):
            cursor.execute(f"DROP TABLE {name}")


@pytest.fixture
def archive_dir(settings, tmp_path) -> Path:
    settings.ARCHIVE_DIR = tmp_path / "archive"
    return settings.ARCHIVE_DIR


def make_device(name: str = "Fridge 1", kind: str = "fixed", channel_model=Channel) -> Device:
    """``channel_model``: the Channel model of an older schema, for a database migrated back to it."""
    account = make_account(name=f"account of {name}")
    device = Device.objects.create(
        account=account, vendor_id=name.lower().replace(" ", "-"), name=name, kind=kind
    )
    channel_model.objects.create(device_id=device.pk, name="temp", quantity="temperature", unit="C")
    channel_model.objects.create(device_id=device.pk, name="humd", quantity="humidity", unit="%RH")
    return device


def reading_at(device: Device, moment: datetime, value: float = 5.0, channel: str = "temp") -> Reading:
    ingest_readings(device, batches_of([ReadingRecord(device.vendor_id, channel, moment, value)]))
    return Reading.objects.get(channel__device=device, channel__name=channel, timestamp=moment)


# -- partitions made ahead, and the default partition ------------------------------------------------


@pytest.mark.django_db
def test_an_insert_into_a_month_with_no_reading_yet_is_served_by_the_partitions_made_ahead():
    device = make_device()
    this_month = first_of_month(timezone.now())
    for ahead in range(1, 4):  # PARTITIONS_AHEAD_MONTHS: made at migrate, before any reading needs them
        month = add_months(this_month, ahead)
        assert not Reading.objects.filter(timestamp__gte=month_start(month)).exists()
        reading = reading_at(device, month_start(month) + timedelta(days=9, hours=5), value=ahead)
        assert where(READINGS, id=reading.pk) == [partition_name(READINGS, month)]
    ingest_positions(
        device, [PositionRecord(device.vendor_id, month_start(month) + timedelta(days=2), 52.1, 4.3)]
    )
    assert where(POSITIONS, device_id=device.pk) == [partition_name(POSITIONS, month)]


@pytest.mark.django_db
def test_the_hourly_task_makes_the_months_that_come_into_its_window(caplog):
    in_five_months = add_months(first_of_month(timezone.now()), 5)
    assert partition_name(READINGS, in_five_months) not in partitions.attached_months(READINGS).values()
    created = partitions.ensure_partitions(now=month_start(add_months(in_five_months, -2)))
    assert partition_name(READINGS, in_five_months) in created
    assert partition_name(POSITIONS, in_five_months) in created
    device = make_device()
    reading = reading_at(device, month_start(in_five_months) + timedelta(hours=1))
    assert where(READINGS, id=reading.pk) == [partition_name(READINGS, in_five_months)]
    # Run again: nothing more to make.
    assert partitions.ensure_partitions(now=month_start(add_months(in_five_months, -2))) == []
    # The beat's task (the schedule is in the database) runs the same service.
    from django_celery_beat.models import PeriodicTask

    assert PeriodicTask.objects.get(task="monitoring.tasks.maintain_partitions").interval.every == 1
    assert tasks.maintain_partitions()["created"] == []


@pytest.mark.django_db
def test_a_reading_30_years_away_lands_in_the_default_partition_and_is_reported(client, caplog):
    device = make_device()
    future = timezone.now().replace(microsecond=0) + timedelta(days=365 * 30)
    past = timezone.now().replace(microsecond=0) - timedelta(days=365 * 30)
    reading = reading_at(device, future, value=4.5)
    old = reading_at(device, past, value=3.5)
    assert where(READINGS, id=reading.pk) == [f"{READINGS}_default"]
    assert where(READINGS, id=old.pk) == [f"{READINGS}_default"]
    assert Reading.objects.get(pk=reading.pk).value == 4.5  # stored and read like any other

    with caplog.at_level(logging.WARNING, logger="monitoring.partitions"):
        result = tasks.maintain_partitions()
    assert result["stray_rows"] == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"of {future:%Y-%m}" in w and "far in the future" in w for w in warnings), warnings
    assert any(f"of {past:%Y-%m}" in w and "far in the past" in w for w in warnings), warnings
    # The hourly run made no partition 30 years away: the reading stays where it is.
    assert where(READINGS, id=reading.pk) == [f"{READINGS}_default"]

    client.force_login(make_user("qa"))
    page = client.get("/sync/").content.decode()
    assert "Readings outside the monthly partitions" in page
    assert f"1 reading of {future:%Y-%m}" in page and "far in the future" in page
    assert f"1 reading of {past:%Y-%m}" in page and "far in the past" in page


@commits
def test_making_a_month_whose_rows_wait_in_the_default_partition_moves_them_there(restore_partitions):
    device = make_device()
    month = add_months(first_of_month(timezone.now()), 6)  # beyond the months made ahead
    moments = [month_start(month) + timedelta(days=3, minutes=k) for k in range(5)]
    ingest_readings(
        device, batches_of(ReadingRecord(device.vendor_id, "temp", t, 1.0 + k) for k, t in enumerate(moments))
    )
    far = reading_at(device, timezone.now() + timedelta(days=365 * 20))
    stored = list(
        Reading.objects.filter(timestamp__in=moments).order_by("timestamp").values_list("id", "value")
    )
    assert where(READINGS, channel_id=device.channels.get(name="temp").pk) == [f"{READINGS}_default"]

    created = partitions.ensure_partitions(now=month_start(add_months(month, -3)))

    assert partition_name(READINGS, month) in created
    moved = list(
        Reading.objects.filter(timestamp__in=moments).order_by("timestamp").values_list("id", "value")
    )
    assert moved == stored  # the same rows, ids and all
    assert where(READINGS, timestamp=moments[0]) == [partition_name(READINGS, month)]
    assert where(READINGS, id=far.pk) == [f"{READINGS}_default"]  # still far: it stays
    # The new default partition is as permanent as the old one.
    with pytest.raises(DatabaseError, match="permanent"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {READINGS}_default")


@pytest.mark.django_db
@pytest.mark.parametrize("statement", ["UPDATE {table} SET timestamp = timestamp", "DELETE FROM {table}"])
@pytest.mark.parametrize(
    "partition",
    [
        "{parent}",
        "{parent}_y{month:%Y}m{month:%m}",
        "{parent}_default",
        "{parent}_y{later:%Y}m{later:%m}",  # made after the migration, by the hourly task
    ],
)
@pytest.mark.parametrize("parent", [READINGS, POSITIONS])
def test_update_and_delete_on_any_partition_are_refused_like_on_the_parent(statement, partition, parent):
    device = make_device(kind="vehicle")
    now = timezone.now()
    later = add_months(first_of_month(now), 8)
    partitions.ensure_partitions(now=month_start(add_months(later, -2)))
    for moment in (now, now + timedelta(days=365 * 30), month_start(later)):
        reading_at(device, moment)
        ingest_positions(device, [PositionRecord(device.vendor_id, moment, 52.0, 4.0)])
    table = partition.format(parent=parent, month=first_of_month(now), later=later)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        assert cursor.fetchone()[0] >= 1
    with pytest.raises(DatabaseError, match="permanent"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement.format(table=table))


@pytest.mark.django_db
def test_the_unique_key_holds_across_the_partitioned_table():
    device = make_device()
    reading = reading_at(device, timezone.now())
    assert (
        ingest_readings(
            device, batches_of([ReadingRecord(device.vendor_id, "temp", reading.timestamp, 9.0)])
        ).count
        == 0
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Reading.objects.create(channel=reading.channel, timestamp=reading.timestamp, value=9.0)
    assert Reading.objects.get(pk=reading.pk).value == 5.0


# -- the conversion of an existing table -------------------------------------------------------------


@commits
def test_the_migration_converts_existing_tables_with_rows_month_by_month(restore_partitions):
    call_command("migrate", "monitoring", "0013", verbosity=0)
    # The channels of that schema (today's model has columns added since).
    old_channel = (
        MigrationExecutor(connection)
        .loader.project_state(("monitoring", "0013_report_files_permission_and_cleanup_schedule"))
        .apps.get_model("monitoring", "Channel")
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE relname = %s", [READINGS])
            assert cursor.fetchone()[0] == "r"  # a plain table, as deployed databases have it
        device = make_device(kind="vehicle", channel_model=old_channel)
        temp = old_channel.objects.get(device_id=device.pk, name="temp")
        now = timezone.now()
        months = [add_months(first_of_month(now), k) for k in (-14, -2, -1)]
        moments = [month_start(m) + timedelta(days=4, hours=h) for m in months for h in range(24)]
        moments.append(now + timedelta(days=365 * 30))  # far in the future: the default partition
        Reading.objects.bulk_create(
            Reading(channel_id=temp.pk, timestamp=t, value=h % 7) for h, t in enumerate(moments)
        )
        Position.objects.bulk_create(
            Position(device=device, timestamp=t, latitude=52.0, longitude=4.0) for t in moments[:30]
        )
        before = list(Reading.objects.order_by("id").values_list("id", "channel_id", "timestamp", "value"))
    finally:
        call_command("migrate", verbosity=0)

    after = list(Reading.objects.order_by("id").values_list("id", "channel_id", "timestamp", "value"))
    assert after == before
    for month in months:
        start = month_start(month)
        assert where(READINGS, timestamp=start + timedelta(days=4)) == [partition_name(READINGS, month)]
        assert (
            Reading.objects.filter(timestamp__gte=start, timestamp__lt=start + timedelta(days=28)).count()
            == 24
        )
    assert where(READINGS, timestamp=moments[-1]) == [f"{READINGS}_default"]
    assert sorted(where(POSITIONS, device_id=device.pk)) == sorted(
        {partition_name(POSITIONS, months[0]), partition_name(POSITIONS, months[1])}
    )
    # The identity goes on from the old table's: no id is given twice.
    newer = reading_at(device, now.replace(microsecond=0) - timedelta(minutes=3))
    assert newer.pk > max(row[0] for row in before)
    with pytest.raises(DatabaseError, match="permanent"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {partition_name(READINGS, months[0])}")
    with pytest.raises(DatabaseError, match="permanent"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {partition_name(POSITIONS, months[0])} SET latitude = 0")


# -- archive, verify, detach -------------------------------------------------------------------------


def fill_month(device: Device, month, step_minutes: int = 20) -> None:
    """Readings of both channels every ``step_minutes`` for the whole month, rollups and positions."""
    start, end = month_start(month), month_start(add_months(month, 1))
    count = int((end - start).total_seconds() // 60 // step_minutes)
    for channel in device.channels.all():
        offset = 0.0 if channel.name == "temp" else 40.0
        rows = [
            Reading(
                channel=channel,
                timestamp=start + timedelta(minutes=step_minutes * i),
                value=None if i % 500 == 7 else round(offset + 5 + (i % 37) / 10, 2),
                error="E7" if i % 500 == 7 else "",
            )
            for i in range(count)
        ]
        Reading.objects.bulk_create(rows, batch_size=5000)
        new = NewReadings()
        new.add(channel.pk, len(rows), rows[0].timestamp, rows[-1].timestamp)
        update_rollups(new)
    Position.objects.bulk_create(
        Position(device=device, timestamp=start + timedelta(hours=h), latitude=52 + h / 1000, longitude=4.5)
        for h in range(0, int((end - start).total_seconds() // 3600), 3)
    )


def chart_of(client, device, first_day, last_day) -> tuple[dict, str]:
    response = client.get(
        f"/devices/{device.pk}/",
        {"range": "custom", "start": f"{first_day:%Y-%m-%d}", "end": f"{last_day:%Y-%m-%d}"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    found = re.search(r'<script type="application/json" id="device-chart-data">(.*?)</script>', html, re.S)
    return json.loads(found.group(1)), html


def series_of(device, start, end) -> list[tuple]:
    """What the chart's selector returns, as plain values."""
    out = []
    for channel in device.channels.order_by("name"):
        s = selectors.channel_series(channel, start, end)
        out.append((s.kind, s.times, s.values, s.minimum, s.maximum, s.mean, s.error_times, s.error_labels))
    return out


@pytest.fixture
def three_months(transactional_db, restore_partitions, archive_dir, settings):
    """A vehicle with readings and positions in three past months; the oldest is past the retention."""
    settings.READINGS_RETENTION_MONTHS = 2
    this_month = first_of_month(timezone.now())
    months = [add_months(this_month, k) for k in (-3, -2, -1)]
    for table in (READINGS, POSITIONS):
        for month in months:
            partitions.create_month_partition(table, month)
    device = make_device("Truck 7", kind="vehicle")
    for month in months:
        fill_month(device, month)
    return device, months


@commits
def test_archive_verify_detach_keeps_every_other_months_charts_and_the_file_matches_its_manifest(
    client, three_months, archive_dir
):
    device, (old, middle, last) = three_months
    client.force_login(make_user("qa"))
    ranges = {
        month: (month_start(month), month_start(add_months(month, 1)), month_start(month) + timedelta(days=2))
        for month in (old, middle, last)
    }
    charts_before = {
        month: [
            chart_of(client, device, start.date(), (end - timedelta(days=1)).date())[0],
            chart_of(client, device, start.date(), (start + timedelta(days=1)).date())[0],
        ]
        for month, (start, end, _) in ranges.items()
    }
    series_before = {
        month: (series_of(device, start, end), series_of(device, start, two_days))
        for month, (start, end, two_days) in ranges.items()
    }
    old_rows = list(
        Reading.objects.filter(timestamp__gte=ranges[old][0], timestamp__lt=ranges[old][1])
        .order_by("channel_id", "timestamp")
        .values_list("id", "channel_id", "timestamp", "value", "error")
    )
    old_positions = Position.objects.filter(
        timestamp__gte=ranges[old][0], timestamp__lt=ranges[old][1]
    ).count()
    rollups_before = ReadingRollup.objects.count()

    call_command("archive_readings", "--dry-run")
    assert not ArchivedMonth.objects.exists()
    call_command("archive_readings")

    # The month is out of the table, and in its file; every other month is untouched.
    assert not Reading.objects.filter(timestamp__gte=ranges[old][0], timestamp__lt=ranges[old][1]).exists()
    assert ReadingRollup.objects.count() == rollups_before  # rollups stay
    for month in (middle, last):
        start, end, two_days = ranges[month]
        assert series_of(device, start, end) == series_before[month][0]
        assert series_of(device, start, two_days) == series_before[month][1]
        assert [
            chart_of(client, device, start.date(), (end - timedelta(days=1)).date())[0],
            chart_of(client, device, start.date(), (start + timedelta(days=1)).date())[0],
        ] == charts_before[month]

    entry = ArchivedMonth.objects.get(table=READINGS, month=old)
    assert entry.state == "detached" and entry.detached_table == f"{READINGS}_archived_{old:%Y_%m}"
    manifest = json.loads(Path(entry.manifest).read_text())
    path = Path(entry.file)
    assert path.parent == archive_dir / READINGS and Path(entry.manifest).parent == path.parent
    assert manifest["table"] == READINGS and manifest["month"] == f"{old:%Y-%m}"
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256
    assert manifest["rows"] == len(old_rows) == entry.row_count
    assert datetime.fromisoformat(manifest["first_time"]) == min(r[2] for r in old_rows)
    assert datetime.fromisoformat(manifest["last_time"]) == max(r[2] for r in old_rows)
    assert manifest["created_by"].startswith("manage.py archive_readings")
    table = pq.read_table(path)
    assert table.num_rows == manifest["rows"]
    in_file = list(
        zip(
            *(table.column(c).to_pylist() for c in ("id", "channel_id", "timestamp", "value", "error")),
            strict=True,
        )
    )
    assert in_file == old_rows  # every row, exactly
    assert set(table.column("device_name").to_pylist()) == {"Truck 7"}
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")

    # The detached partition stays as a permanent table, no longer part of the readings.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {entry.detached_table}")
        assert cursor.fetchone()[0] == len(old_rows)
        cursor.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhrelid = %s::regclass", [entry.detached_table]
        )
        assert cursor.fetchone()[0] == 0
    with pytest.raises(DatabaseError, match="permanent"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {entry.detached_table}")

    positions = ArchivedMonth.objects.get(table=POSITIONS, month=old)
    assert positions.row_count == old_positions and positions.state == "detached"
    assert not ArchivedMonth.objects.filter(month__in=[middle, last]).exists()
    steps = list(
        AuditRecord.objects.filter(model="monitoring.archivedmonth", object_id=str(entry.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert steps == ["archive", "verify", "detach"]

    # The archived month's chart: hourly min/max from the rollups, and where the readings went.
    figure, html = chart_of(
        client, device, ranges[old][0].date(), (ranges[old][0] + timedelta(days=1)).date()
    )
    assert any("max per 1 h" in trace.get("name", "") for trace in figure["data"])
    assert f"Readings of {old:%Y-%m} archived to {entry.file}" in html and Path(entry.manifest).name in html
    assert any("archived" in a.get("text", "") for a in figure["layout"]["annotations"])
    # The CSV of a range with the archived month is refused with the reason; of another month it works.
    refused = client.get(
        f"/devices/{device.pk}/readings.csv",
        {"range": "custom", "start": f"{old:%Y-%m-%d}", "end": f"{middle:%Y-%m-%d}"},
    )
    assert refused.status_code == 409 and entry.file in refused.content.decode()
    assert f"starts on or after {middle:%Y-%m-%d}" in refused.content.decode()
    fine = client.get(
        f"/devices/{device.pk}/readings.csv",
        {"range": "custom", "start": f"{middle:%Y-%m-%d}", "end": f"{middle:%Y-%m-%d}"},
    )
    assert fine.status_code == 200 and b"".join(fine.streaming_content).count(b"\n") > 1
    with pytest.raises(CommandError, match="archived to"):
        call_command("export_readings", "--start", month_start(old).isoformat(), "--output", "/dev/null")
    with pytest.raises(CommandError, match="archived to"):
        call_command("export_positions", "--start", month_start(old).isoformat(), "--output", "/dev/null")
    # The map says where the tracks went.
    page = client.get("/map/", {"range": "custom", "start": f"{old:%Y-%m-%d}", "end": f"{old:%Y-%m-%d}"})
    assert f"Positions of {old:%Y-%m} archived to" in page.content.decode()

    # Nothing left to archive.
    assert archive.archivable_months(READINGS) == []
    with pytest.raises(CommandError, match="inside the retention"):
        call_command("archive_readings", "--before", f"{last:%Y-%m}")


def forge(path: Path, manifest_path: Path) -> None:
    """A careful forger: one value changed, the file rewritten, its SHA-256 and the manifest's row
    checksum made to match the new file."""
    table = pq.read_table(path)
    values = table.column("value").to_pylist()
    values[3] = (values[3] or 0) + 10
    forged = table.set_column(table.schema.get_field_index("value"), "value", pa.array(values, pa.float64()))
    pq.write_table(forged, path)
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest["row_checksum"] = archive._file_facts(path, archive.LAYOUTS[READINGS]).row_checksum
    manifest_path.write_text(json.dumps(manifest))


def flip_a_byte(path: Path, manifest_path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@commits
@pytest.mark.parametrize("tamper", [flip_a_byte, forge])
def test_a_tampered_file_fails_verification_and_nothing_is_detached(three_months, tamper):
    device, (old, _, _) = three_months
    start, end = month_start(old), month_start(add_months(old, 1))
    count = Reading.objects.filter(timestamp__gte=start, timestamp__lt=end).count()

    entry = archive.write_archive(READINGS, old, by="test")
    original_sha = entry.sha256
    tamper(Path(entry.file), Path(entry.manifest))
    with pytest.raises(archive.ArchiveMismatch):
        archive.detach_if_verified(entry)

    assert partition_name(READINGS, old) in partitions.attached_months(READINGS).values()
    assert Reading.objects.filter(timestamp__gte=start, timestamp__lt=end).count() == count
    entry.refresh_from_db()
    assert entry.state == "refused" and entry.problem
    assert ".refused-" in entry.file and Path(entry.file).exists()  # set aside, kept for whoever looks
    refusal = AuditRecord.objects.get(
        model="monitoring.archivedmonth", object_id=str(entry.pk), action="refuse"
    )
    assert "nothing detached" in refusal.reason
    assert not AuditRecord.objects.filter(object_id=str(entry.pk), action__in=["verify", "detach"]).exists()
    # The chart of the month still shows every reading.
    assert (
        Reading.objects.filter(channel__device=device, timestamp__gte=start, timestamp__lt=end).count()
        == count
    )

    # Archiving again writes a fresh file from the partition, which verifies.
    again = archive.archive_month(READINGS, old, by="test")
    assert again.state == "detached" and again.sha256 != "" and original_sha
    assert ArchivedMonth.objects.filter(table=READINGS, month=old).count() == 2


@commits
def test_a_row_added_to_the_month_after_writing_fails_verification(three_months):
    device, (old, _, _) = three_months
    entry = archive.write_archive(READINGS, old, by="test")
    reading_at(device, month_start(old) + timedelta(minutes=7))  # a late backfill
    with pytest.raises(archive.ArchiveMismatch, match="partition .* differs"):
        archive.detach_if_verified(entry)
    assert partition_name(READINGS, old) in partitions.attached_months(READINGS).values()


@commits
def test_the_admin_lists_partitions_and_archives_old_months(client, three_months, settings):
    from coldchain.celery import app

    device, (old, middle, _) = three_months
    boss = make_user("boss", role="Admin")
    boss.is_staff = True
    boss.save(update_fields=["is_staff"])
    client.force_login(boss)
    listing = client.get("/admin/monitoring/monthpartition/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert partition_name(READINGS, old) in html and f"{READINGS}_default" in html

    app.conf.task_always_eager = True  # the worker's task, run here
    try:
        response = client.post(
            "/admin/monitoring/monthpartition/",
            {
                "action": "archive_months",
                "_selected_action": [partition_name(READINGS, old), partition_name(READINGS, middle)],
            },
            follow=True,
        )
    finally:
        app.conf.task_always_eager = False
    text = response.content.decode()
    assert "Not archived: " + partition_name(READINGS, middle) in text
    entry = ArchivedMonth.objects.get(table=READINGS, month=old)
    assert entry.state == "detached" and entry.created_by == "boss"
    assert set(
        AuditRecord.objects.filter(object_id=str(entry.pk), model="monitoring.archivedmonth").values_list(
            "username", flat=True
        )
    ) == {"boss"}
    assert not MonthPartition.objects.filter(name=partition_name(READINGS, old)).exists()
    assert MonthPartition.objects.filter(name=partition_name(READINGS, middle)).exists()
    assert "archived" in client.get("/admin/monitoring/archivedmonth/").content.decode().lower()
    # The readings' own admin pages work on the partitioned table.
    reading = Reading.objects.filter(channel__device=device).latest("timestamp")
    assert (
        client.get("/admin/monitoring/reading/", {"timestamp__year": reading.timestamp.year}).status_code
        == 200
    )
    assert (
        f"{reading.value}" in client.get(f"/admin/monitoring/reading/{reading.pk}/change/").content.decode()
    )

    # A QA user (even one let into the admin) sees neither the partitions nor the action.
    qa = make_user("qa")
    qa.is_staff = True
    qa.save(update_fields=["is_staff"])
    client.force_login(qa)
    assert client.get("/admin/monitoring/monthpartition/").status_code == 403


@commits
def test_with_archive_drop_detached_the_verified_partition_is_dropped(three_months, settings):
    settings.ARCHIVE_DROP_DETACHED = True
    _, (old, _, _) = three_months
    entry = archive.archive_month(POSITIONS, old, by="test")
    assert entry.state == "dropped" and entry.detached_table == ""
    assert f"{POSITIONS}_archived_{old:%Y_%m}" not in tables_named_like_ours()
    assert Path(entry.file).exists()
    actions = AuditRecord.objects.filter(object_id=str(entry.pk), model="monitoring.archivedmonth")
    assert list(actions.order_by("id").values_list("action", flat=True)) == [
        "archive",
        "verify",
        "detach",
        "drop",
    ]


@commits
def test_the_export_of_everything_notes_the_archived_months(three_months, capsys):
    _, (old, _, _) = three_months
    archive.archive_month(READINGS, old, by="test")
    call_command("export_readings", "--output", "/dev/null")
    assert f"Readings of {old:%Y-%m} archived to" in capsys.readouterr().err


def test_months_made_ahead_use_utc_month_boundaries():
    assert month_start(first_of_month(datetime(2026, 3, 31, 23, 30, tzinfo=UTC))) == datetime(
        2026, 3, 1, tzinfo=UTC
    )
    assert add_months(first_of_month(datetime(2026, 12, 5, tzinfo=UTC)), 1).isoformat() == "2027-01-01"
    assert partitions.months_ahead(datetime(2026, 1, 15, tzinfo=UTC), ahead=3)[0].isoformat() == "2025-12-01"


@commits
def test_an_archive_folder_that_cannot_be_written_is_a_clear_error_and_nothing_changes(
    three_months, settings
):
    _, (old, _, _) = three_months
    settings.ARCHIVE_DIR = Path("/proc/no-such-folder")
    errors = io.StringIO()
    with pytest.raises(CommandError, match="refused, nothing detached"):
        call_command("archive_readings", stderr=errors)
    assert re.search(r"cannot write the archive of monitoring_reading .* \(ARCHIVE_DIR\)", errors.getvalue())
    assert partition_name(READINGS, old) in partitions.attached_months(READINGS).values()
    assert not ArchivedMonth.objects.exists()
