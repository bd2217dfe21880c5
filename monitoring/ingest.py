"""Store what the vendor clients yield, exactly once, and say what was new.

Readings are the big table: on PostgreSQL they are COPYed into a staging table and moved with
``INSERT ... ON CONFLICT DO NOTHING``; elsewhere (the SQLite demo) a plain bulk insert ignores the
rows that are already there. Either way a re-sync of the same period adds nothing, and the caller learns
which channels got new readings in which time span (the excursion engine re-evaluates exactly those).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncHour

from monitoring.models import Channel, DataGap, Device, Position, Reading, ReadingRollup, VendorAlert
from vendors.clients.records import AlertRecord, GapRecord, PositionRecord, ReadingRecord


@dataclass
class NewReadings:
    """What one ingest added: per channel id, the count and the time span of the new readings."""

    count: int = 0
    spans: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)

    def add(self, channel_id: int, count: int, first: datetime, last: datetime) -> None:
        self.count += count
        if channel_id in self.spans:
            old_first, old_last = self.spans[channel_id]
            first, last = min(first, old_first), max(last, old_last)
        self.spans[channel_id] = (first, last)

    def merge(self, other: NewReadings) -> None:
        for channel_id, (first, last) in other.spans.items():
            self.add(channel_id, 0, first, last)
        self.count += other.count


def _clean_value(record: ReadingRecord) -> tuple[float | None, str]:
    """A value that is not a finite number is never stored as a temperature."""
    value = record.value
    if record.error:
        return None, record.error[:100]
    if value is None or not math.isfinite(value):
        return None, "invalid value"
    return float(value), ""


def ingest_readings(device: Device, records: Iterable[ReadingRecord]) -> NewReadings:
    channels = {c.name: c for c in device.channels.all()}
    channel_ids = {name: c.pk for name, c in channels.items()}
    rows: dict[tuple[int, datetime], tuple[float | None, str]] = {}
    for record in records:
        channel_id = channel_ids.get(record.channel)
        if channel_id is None:
            raise ValueError(f"{device}: reading for unknown channel {record.channel!r}")
        key = (channel_id, record.timestamp)
        if key not in rows:
            rows[key] = _clean_value(record)
    if not rows:
        return NewReadings()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            new = _insert_readings_postgresql(rows)
        else:
            new = _insert_readings_generic(rows)
        _update_latest(channels.values(), rows)
        update_rollups(new)
    return new


def _insert_readings_postgresql(rows) -> NewReadings:
    """COPY into a staging table, then INSERT ... ON CONFLICT DO NOTHING into the readings.

    Fast path: when no stored reading of these channels falls in the batch's time span (a first
    backfill), the batch is COPYed straight into the readings table, in a savepoint; should a reading
    slip in meanwhile, the unique index refuses it and the staging path runs instead.
    """
    by_channel: dict[int, list[datetime]] = {}
    for channel_id, timestamp in rows:
        by_channel.setdefault(channel_id, []).append(timestamp)
    spans = {channel_id: (min(stamps), max(stamps)) for channel_id, stamps in by_channel.items()}
    with connection.cursor() as cursor:
        if not _any_stored(cursor, spans):
            try:
                with transaction.atomic():
                    _copy(cursor, "monitoring_reading", rows)
            except IntegrityError:
                pass
            else:
                new = NewReadings()
                for channel_id, (first, last) in spans.items():
                    new.add(channel_id, len(by_channel[channel_id]), first, last)
                return new
        return _insert_via_staging(cursor, rows)


def _any_stored(cursor, spans) -> bool:
    for channel_id, (first, last) in spans.items():
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM monitoring_reading"
            " WHERE channel_id = %s AND timestamp BETWEEN %s AND %s)",
            [channel_id, first, last],
        )
        if cursor.fetchone()[0]:
            return True
    return False


def _copy(cursor, table: str, rows) -> None:
    with cursor.cursor.copy(f"COPY {table} (channel_id, timestamp, value, error) FROM STDIN") as copy:
        for (channel_id, timestamp), (value, error) in rows.items():
            copy.write_row((channel_id, timestamp, value, error))


def _insert_via_staging(cursor, rows) -> NewReadings:
    new = NewReadings()
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS reading_staging "
        "(channel_id bigint, timestamp timestamptz, value double precision, error varchar(100)) "
        "ON COMMIT DELETE ROWS"
    )
    _copy(cursor, "reading_staging", rows)
    cursor.execute(
        "WITH inserted AS ("
        " INSERT INTO monitoring_reading (channel_id, timestamp, value, error)"
        " SELECT channel_id, timestamp, value, error FROM reading_staging"
        " ON CONFLICT (channel_id, timestamp) DO NOTHING"
        " RETURNING channel_id, timestamp)"
        " SELECT channel_id, count(*), min(timestamp), max(timestamp) FROM inserted GROUP BY channel_id"
    )
    for channel_id, count, first, last in cursor.fetchall():
        new.add(channel_id, count, first, last)
    cursor.execute("TRUNCATE reading_staging")
    return new


def _insert_readings_generic(rows) -> NewReadings:
    by_channel: dict[int, list[datetime]] = {}
    for channel_id, timestamp in rows:
        by_channel.setdefault(channel_id, []).append(timestamp)
    existing: set[tuple[int, datetime]] = set()
    for channel_id, stamps in by_channel.items():
        existing.update(
            (channel_id, ts)
            for ts in Reading.objects.filter(
                channel_id=channel_id, timestamp__gte=min(stamps), timestamp__lte=max(stamps)
            ).values_list("timestamp", flat=True)
        )
    fresh = [key for key in rows if key not in existing]
    Reading.objects.bulk_create(
        [Reading(channel_id=c, timestamp=t, value=rows[(c, t)][0], error=rows[(c, t)][1]) for c, t in fresh],
        batch_size=2000,
        ignore_conflicts=True,
    )
    new = NewReadings()
    for channel_id, timestamp in fresh:
        new.add(channel_id, 1, timestamp, timestamp)
    return new


def update_rollups(new: NewReadings) -> None:
    """Recompute the hourly rollups of the hours that got new readings (cost grows with new data only)."""
    for channel_id, (first, last) in new.spans.items():
        start = first.replace(minute=0, second=0, microsecond=0)
        end = last.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        hours = (
            Reading.objects.filter(channel_id=channel_id, timestamp__gte=start, timestamp__lt=end)
            .annotate(hour=TruncHour("timestamp", tzinfo=UTC))
            .values("hour")
            .annotate(
                minimum=Min("value"),
                maximum=Max("value"),
                total=Sum("value"),
                count=Count("value"),
                rows=Count("id"),
            )
        )
        ReadingRollup.objects.bulk_create(
            [
                ReadingRollup(
                    channel_id=channel_id,
                    hour=h["hour"],
                    minimum=h["minimum"],
                    maximum=h["maximum"],
                    total=h["total"] or 0.0,
                    count=h["count"],
                    errors=h["rows"] - h["count"],
                )
                for h in hours
            ],
            update_conflicts=True,
            unique_fields=["channel", "hour"],
            update_fields=["minimum", "maximum", "total", "count", "errors"],
        )


def _update_latest(channels: Iterable[Channel], rows) -> None:
    latest: dict[int, tuple[datetime, float | None, str]] = {}
    for (channel_id, timestamp), (value, error) in rows.items():
        if channel_id not in latest or timestamp > latest[channel_id][0]:
            latest[channel_id] = (timestamp, value, error)
    for channel in channels:
        if channel.pk not in latest:
            continue
        timestamp, value, error = latest[channel.pk]
        # Only move forward: an old backfill never replaces the current value.
        Channel.objects.filter(pk=channel.pk).filter(
            Q(last_reading_at__isnull=True) | Q(last_reading_at__lt=timestamp)
        ).update(last_reading_at=timestamp, last_value=value, last_error=error)


def ingest_positions(device: Device, records: Iterable[PositionRecord]) -> int:
    rows: dict[datetime, PositionRecord] = {}
    for record in records:
        if not (math.isfinite(record.latitude) and math.isfinite(record.longitude)):
            continue
        rows.setdefault(record.timestamp, record)
    if not rows:
        return 0
    existing = set(
        Position.objects.filter(
            device=device, timestamp__gte=min(rows), timestamp__lte=max(rows)
        ).values_list("timestamp", flat=True)
    )
    fresh = [r for ts, r in rows.items() if ts not in existing]
    Position.objects.bulk_create(
        [
            Position(
                device=device,
                timestamp=r.timestamp,
                latitude=r.latitude,
                longitude=r.longitude,
                speed_kmh=r.speed_kmh,
            )
            for r in fresh
        ],
        batch_size=2000,
        ignore_conflicts=True,
    )
    latest = max(rows.values(), key=lambda r: r.timestamp)
    Device.objects.filter(pk=device.pk).filter(
        Q(last_seen__isnull=True) | Q(last_seen__lte=latest.timestamp)
    ).update(latitude=latest.latitude, longitude=latest.longitude)
    return len(fresh)


def ingest_gaps(device: Device, records: Iterable[GapRecord]) -> int:
    created = 0
    for record in records:
        _, was_created = DataGap.objects.get_or_create(
            device=device, start=record.start, end=record.end, defaults={"reason": record.reason[:200]}
        )
        created += was_created
    return created


def ingest_alerts(account, devices_by_vendor_id: dict[str, Device], records: Iterable[AlertRecord]) -> int:
    """New alerts are added; an alert that has ended since we stored it gets its end time."""
    created = 0
    for record in records:
        defaults = {
            "device": devices_by_vendor_id.get(record.device_id or ""),
            "alert_type": record.alert_type[:100],
            "message": record.message,
            "started_at": record.started_at,
            "ended_at": record.ended_at,
            "latitude": record.latitude,
            "longitude": record.longitude,
            "address": record.address[:300],
            "speed_kmh": record.speed_kmh,
        }
        alert, was_created = VendorAlert.objects.get_or_create(
            account=account, vendor_alert_id=record.vendor_alert_id[:200], defaults=defaults
        )
        created += was_created
        if not was_created and record.ended_at and alert.ended_at != record.ended_at:
            alert.ended_at = record.ended_at
            alert.save(update_fields=["ended_at"])
    return created
