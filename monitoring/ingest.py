"""Store what the vendor clients yield, exactly once, and say what was new.

Readings are the big table. They come in one shape, ``ReadingBatch``: one channel's readings in columns
(T&D's 65,535 readings an answer as they came; the records of a vendor that answers row by row grouped by
the client's base class), which go to the database without a Python object per reading when they are in
order with clean values; order and finiteness are checked here, once. A
batch whose time span holds no stored reading is COPYed straight into the table; otherwise the readings
are COPYed into a staging table and moved with ``INSERT ... ON CONFLICT DO NOTHING``. Either way a
re-sync of the same period adds nothing, and the caller learns which channels got new readings in which
time span (the excursion engine re-evaluates exactly those).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import islice, repeat
from operator import lt
from typing import NamedTuple

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from monitoring.models import (
    Channel,
    DataGap,
    DeploymentGroup,
    Device,
    InstallationEvent,
    Position,
    Reading,
    ReadingRollup,
    VendorAlert,
)
from monitoring.signals import readings_stored
from vendors.clients.parsing import all_finite
from vendors.clients.records import (
    AlertRecord,
    DeviceInfo,
    GapRecord,
    PositionRecord,
    ReadingBatch,
)

# -- Vendor strings in our columns ------------------------------------------------------------------
# A vendor may send a name, a group, a message of any length and with any character: each is made to fit
# its column here, so no vendor string can stop an account's sync with a database error.

CUT_MARK = "…"  # ends a text that was cut, so a reader sees there was more
DIGEST_CHARACTERS = 16


@cache
def column_length(model: type[models.Model], field_name: str) -> int | None:
    """The column's ``max_length`` (None for a text column without one)."""
    return model._meta.get_field(field_name).max_length


def fit_text(model: type[models.Model], field_name: str, value: object) -> str:
    """A vendor's text (a name, a message, an address) for ``model.field_name``: whole if it fits (a
    text column keeps it all), else cut to the column's length and ended with "…"."""
    text = _storable(value)
    limit = column_length(model, field_name)
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - len(CUT_MARK)] + CUT_MARK


def fit_key(model: type[models.Model], field_name: str, value: object) -> str:
    """A vendor's id, or a name that must stay unique (a channel of a device, a group), for
    ``model.field_name``: as it is if it fits, else cut and ended with "…" and a digest of the whole, so
    two long values that differ only past the cut stay two, and a value gets the same key at every sync."""
    text = _storable(value)
    limit = column_length(model, field_name)
    if limit is None or len(text) <= limit:
        return text
    whole = str(value).encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(whole).hexdigest()[:DIGEST_CHARACTERS]
    return text[: limit - len(CUT_MARK) - DIGEST_CHARACTERS] + CUT_MARK + digest


def _storable(value: object) -> str:
    """PostgreSQL refuses a NUL character and a lone surrogate (half of a UTF-16 pair, which JSON can
    carry) in text: each becomes a replacement character."""
    text = "" if value is None else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes "?"
    return text


# -- Devices and channels ---------------------------------------------------------------------------


def ingest_device(account, info: DeviceInfo) -> Device:
    """Create or update our copy of a device and its channels from what the vendor says.

    Every vendor string is made to fit its column (``fit_text``, ``fit_key``): ids and names that must
    stay unique keep a digest of the whole when they are cut."""
    client_class = account.client_class
    capabilities = client_class.capabilities
    group = None
    if info.group:
        group_name = fit_key(DeploymentGroup, "name", info.group)
        if capabilities.keeps_groups:  # the vendor's own group of this account
            group, _ = DeploymentGroup.objects.get_or_create(
                account=account,
                vendor_group_id=fit_key(DeploymentGroup, "vendor_group_id", info.group),
                defaults={"name": group_name},
            )
        else:
            group, _ = DeploymentGroup.objects.get_or_create(account=None, name=group_name)
    device_name = fit_text(Device, "name", info.name or info.vendor_id)
    device, created = Device.objects.get_or_create(
        account=account,
        vendor_id=fit_key(Device, "vendor_id", info.vendor_id),
        defaults={"name": device_name, "kind": info.kind},
    )
    changed = []
    updates = {
        "name": device_name if info.name else device.name,
        "kind": info.kind,
        "battery": info.battery if info.battery is not None else device.battery,
        "last_seen": max(filter(None, [info.last_seen, device.last_seen]), default=None),
        "driver": fit_text(Device, "driver", info.driver or ""),
        "current_value_only": info.current_value_only,
    }
    if info.latitude is not None and info.longitude is not None:
        updates.update(latitude=info.latitude, longitude=info.longitude)
    if group is not None:
        updates["group"] = group
    elif capabilities.keeps_groups and device.group_id:
        updates["group"] = None  # the vendor says it is in no group
    if info.installation_status:
        updates["installation_status"] = info.installation_status
    for name, value in updates.items():
        if getattr(device, name) != value:
            setattr(device, name, value)
            changed.append(name)
    if changed:
        device.save(update_fields=changed)
    if info.installation_status and (created or "installation_status" in changed):
        InstallationEvent.objects.get_or_create(
            device=device,
            status=info.installation_status,
            timestamp=info.last_seen or timezone.now(),
            defaults={"responsible": client_class.label},
        )
    _upsert_channels(device, info)
    return device


def _upsert_channels(device: Device, info: DeviceInfo) -> None:
    """New channels are created; a known one (matched by the vendor's key, never by its label) gets the
    label the vendor shows now. Quantity and unit stay as first stored: its readings were stored in them."""
    existing = {c.name: c for c in device.channels.all()}
    created, relabelled = [], []
    for c in info.channels:
        key = fit_key(Channel, "name", c.name)
        label = fit_text(Channel, "label", c.label or "")
        channel = existing.get(key)
        if channel is None:
            unit = fit_text(Channel, "unit", c.unit)
            created.append(Channel(device=device, name=key, label=label, quantity=c.quantity, unit=unit))
            existing[key] = created[-1]  # a key the vendor lists twice is one channel
        elif channel.label != label:
            channel.label = label
            relabelled.append(channel)
    Channel.objects.bulk_create(created)
    Channel.objects.bulk_update(relabelled, ["label"])


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


def _clean(value: float | None, error: str) -> tuple[float | None, str]:
    """A value that is not a finite number is never stored as a temperature."""
    if error:
        return None, fit_text(Reading, "error", error)
    if value is None or type(value) is bool or not math.isfinite(value):
        return None, "invalid value"
    return float(value), ""


class _Column(NamedTuple):
    """One channel's readings to store, strictly increasing in time, values clean."""

    timestamps: list[datetime]
    values: list[float | None]
    errors: list[str]


def ingest_readings(device: Device, batches: Iterable[ReadingBatch]) -> NewReadings:
    """Store readings (``ReadingBatch``es: each one channel's readings in columns) exactly once.

    Nothing else moves: readings that arrive late, before their channel's evaluation watermark, set the
    channel's ``pending_from`` in the same transaction, so the engine evaluates them even if this process
    dies right after the commit. Then ``readings_stored`` is sent (the engine evaluates at once)."""
    channels = {c.name: c for c in device.channels.all()}
    columns = _columns(device, {name: c.pk for name, c in channels.items()}, batches)
    if not columns:
        return NewReadings()
    with transaction.atomic():
        new = _insert_readings(columns)
        _update_latest(columns)
        _note_late_readings(new)
        update_rollups(new)
    if new.count:
        readings_stored.send(sender=Reading, channel_ids=sorted(new.spans))
    return new


def _note_late_readings(new: NewReadings) -> None:
    """A channel whose new readings start at or before its watermark is re-evaluated from there."""
    for channel_id, (first, _last) in new.spans.items():
        Channel.objects.filter(pk=channel_id, evaluated_until__gte=first).filter(
            Q(pending_from__isnull=True) | Q(pending_from__gt=first)
        ).update(pending_from=first)


def _columns(
    device: Device, channel_ids: dict[str, int], batches: Iterable[ReadingBatch]
) -> dict[int, _Column]:
    """Per channel id, its readings sorted by time, the first of each time only, values cleaned: the one
    check of order and finiteness on the way to the database.

    A channel's readings that are in order with clean values are taken as they are (a backfill's usual
    case: no Python step per reading); anything else goes one reading at a time.
    """
    joined: dict[int, ReadingBatch] = {}
    for batch in batches:
        if type(batch) is not ReadingBatch:
            raise TypeError(f"{device}: the ingest takes ReadingBatch, not {type(batch).__name__}")
        if not (len(batch.timestamps) == len(batch.values) == len(batch.errors)):
            raise ValueError(f"{batch.device_id} {batch.channel}: a batch's columns differ in length")
        channel_id = channel_ids.get(batch.channel)
        if channel_id is None:  # a name too long for its column is stored as its key
            channel_id = channel_ids[batch.channel] = channel_ids.get(fit_key(Channel, "name", batch.channel))
        if channel_id is None:
            raise ValueError(f"{device}: reading for unknown channel {batch.channel!r}")
        if not batch.timestamps:
            continue
        before = joined.get(channel_id)
        if before is None:
            joined[channel_id] = batch
        else:  # a second batch of the channel: one column of both, in the order they came
            joined[channel_id] = before._replace(
                timestamps=before.timestamps + batch.timestamps,
                values=before.values + batch.values,
                errors=before.errors + batch.errors,
            )
    return {channel_id: _clean_column(batch) for channel_id, batch in joined.items()}


def _clean_column(batch: ReadingBatch) -> _Column:
    """The batch as a column: as it is when its times strictly increase and its values are finite floats
    with no error; else cleaned one by one, sorted, the first reading of each time kept."""
    timestamps, values, errors = batch.timestamps, batch.values, batch.errors
    if all(map(lt, timestamps, islice(timestamps, 1, None))):
        if any(errors) or set(map(type, values)) != {float} or not all_finite(values):
            values, errors = map(list, zip(*map(_clean, values, errors), strict=True))
        return _Column(timestamps, values, errors)
    by_time: dict[datetime, tuple[float | None, str]] = {}
    for timestamp, value, error in zip(timestamps, values, errors, strict=True):
        if timestamp not in by_time:
            by_time[timestamp] = _clean(value, error)
    ordered = sorted(by_time)
    values, errors = zip(*(by_time[t] for t in ordered), strict=True)
    return _Column(ordered, list(values), list(errors))


def _insert_readings(columns: dict[int, _Column]) -> NewReadings:
    """COPY into a staging table, then INSERT ... ON CONFLICT DO NOTHING into the readings.

    Fast path: when no stored reading of these channels falls in the batch's time span (a first
    backfill, or the new end of a stream), the batch is COPYed straight into the readings table, in a
    savepoint; should a reading slip in meanwhile, the unique index refuses it and the staging path runs
    instead.
    """
    with connection.cursor() as cursor:
        if not _any_stored(cursor, columns):
            try:
                with transaction.atomic():
                    _copy(cursor, "monitoring_reading", columns)
            except IntegrityError:
                pass
            else:
                new = NewReadings()
                for channel_id, column in columns.items():
                    new.add(channel_id, len(column.timestamps), column.timestamps[0], column.timestamps[-1])
                return new
        return _insert_via_staging(cursor, columns)


def _any_stored(cursor, columns: dict[int, _Column]) -> bool:
    for channel_id, column in columns.items():
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM monitoring_reading"
            " WHERE channel_id = %s AND timestamp BETWEEN %s AND %s)",
            [channel_id, column.timestamps[0], column.timestamps[-1]],
        )
        if cursor.fetchone()[0]:
            return True
    return False


def _copy(cursor, table: str, columns: dict[int, _Column]) -> None:
    with cursor.cursor.copy(f"COPY {table} (channel_id, timestamp, value, error) FROM STDIN") as copy:
        write_row = copy.write_row
        for channel_id, (timestamps, values, errors) in columns.items():
            for row in zip(repeat(channel_id), timestamps, values, errors):
                write_row(row)


def _insert_via_staging(cursor, columns: dict[int, _Column]) -> NewReadings:
    new = NewReadings()
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS reading_staging "
        "(channel_id bigint, timestamp timestamptz, value double precision, error varchar(100)) "
        "ON COMMIT DELETE ROWS"
    )
    _copy(cursor, "reading_staging", columns)
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


def _update_latest(columns: dict[int, _Column]) -> None:
    for channel_id, (timestamps, values, errors) in columns.items():
        timestamp, value, error = timestamps[-1], values[-1], errors[-1]
        # Only move forward: an old backfill never replaces the current value.
        Channel.objects.filter(pk=channel_id).filter(
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
            device=device,
            start=record.start,
            end=record.end,
            defaults={"reason": fit_text(DataGap, "reason", record.reason)},
        )
        created += was_created
    return created


def ingest_alerts(account, devices_by_vendor_id: dict[str, Device], records: Iterable[AlertRecord]) -> int:
    """New alerts are added; an alert that has ended since we stored it gets its end time."""
    created = 0
    for record in records:
        defaults = {
            "device": devices_by_vendor_id.get(record.device_id or ""),
            "alert_type": fit_text(VendorAlert, "alert_type", record.alert_type),
            "message": fit_text(VendorAlert, "message", record.message),
            "started_at": record.started_at,
            "ended_at": record.ended_at,
            "latitude": record.latitude,
            "longitude": record.longitude,
            "address": fit_text(VendorAlert, "address", record.address),
            "speed_kmh": record.speed_kmh,
        }
        alert, was_created = VendorAlert.objects.get_or_create(
            account=account,
            vendor_alert_id=fit_key(VendorAlert, "vendor_alert_id", record.vendor_alert_id),
            defaults=defaults,
        )
        created += was_created
        if not was_created and record.ended_at and alert.ended_at != record.ended_at:
            alert.ended_at = record.ended_at
            alert.save(update_fields=["ended_at"])
    return created
