"""The plain records a vendor client yields. They carry no database object and no secret."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

TEMPERATURE = "temperature"
HUMIDITY = "humidity"
OTHER = "other"  # any other quantity (kWh, V, mA, ppm, lx, hPa...): its unit says what it is
CELSIUS = "C"
PERCENT_RH = "%RH"


@dataclass(frozen=True)
class ChannelInfo:
    name: str  # the vendor's stable key: "Measure", "ch1", "temperature1", "temp", a GPSWOX sensor id
    quantity: str  # TEMPERATURE, HUMIDITY or OTHER
    unit: str  # CELSIUS or PERCENT_RH; for OTHER the vendor's unit ("kWh", "V", "ppm"...)
    label: str = ""  # the name to show (the vendor's display name); empty: show ``name``


@dataclass(frozen=True)
class DeviceInfo:
    vendor_id: str  # the vendor's own id: IDEquipment, serial, unit id, tuid, GPSWOX device id
    name: str
    kind: str = "fixed"  # "fixed", "vehicle" or "gateway"
    channels: tuple[ChannelInfo, ...] = ()
    group: str | None = None  # the vendor's deployment/device group, where it has one
    installation_status: str | None = None  # new, installed, uninstalled, quarantine, retired
    battery: float | None = None  # percent
    last_seen: datetime | None = None
    latitude: float | None = None
    longitude: float | None = None
    driver: str | None = None  # the driver the vendor links to a vehicle
    current_value_only: bool = False  # the vendor keeps no history of it: each sync stores its current value
    # What the client itself needs again when it reads the device's history (T&D's endpoint and base
    # unit, GPSWOX's °F sensors); nothing is kept here only for show.
    extra: dict = field(default_factory=dict, compare=False, hash=False)


class ReadingRecord(NamedTuple):
    """One reading. A named tuple, not a dataclass: a backfill makes hundreds of thousands of them."""

    device_id: str
    channel: str
    timestamp: datetime  # aware, UTC
    value: float | None  # None when ``error`` holds the vendor's error code
    error: str = ""


class ReadingBatch(NamedTuple):
    """One channel's readings in columns, oldest first: the one shape in which readings travel from a
    client to the database (``history_batches``; ``batches_of`` groups records). The ingest checks the
    columns (order, duplicates, values) once and takes the long way when they are not as promised."""

    device_id: str
    channel: str
    timestamps: list[datetime]  # aware, UTC, strictly increasing
    values: list[float | None]  # None where ``errors`` holds the vendor's error code
    errors: list[str]

    def records(self) -> Iterator[ReadingRecord]:
        device_id, channel = self.device_id, self.channel
        for timestamp, value, error in zip(self.timestamps, self.values, self.errors, strict=True):
            yield ReadingRecord(device_id, channel, timestamp, value, error)


def batches_of(records: Iterable[ReadingRecord]) -> list[ReadingBatch]:
    """Records as batches, one per device and channel, in the order given (the ingest sorts them)."""
    columns: dict[tuple[str, str], ReadingBatch] = {}
    for device_id, channel, timestamp, value, error in records:
        batch = columns.get((device_id, channel))
        if batch is None:
            batch = columns[device_id, channel] = ReadingBatch(device_id, channel, [], [], [])
        batch.timestamps.append(timestamp)
        batch.values.append(value)
        batch.errors.append(error)
    return list(columns.values())


@dataclass(frozen=True)
class PositionRecord:
    device_id: str
    timestamp: datetime  # aware, UTC
    latitude: float
    longitude: float
    speed_kmh: float | None = None


@dataclass(frozen=True)
class AlertRecord:
    vendor_alert_id: str  # stable across syncs, so a re-sync adds nothing
    device_id: str | None
    alert_type: str
    started_at: datetime  # aware, UTC
    ended_at: datetime | None = None
    message: str = ""
    latitude: float | None = None
    longitude: float | None = None
    address: str = ""
    speed_kmh: float | None = None


@dataclass(frozen=True)
class GapRecord:
    """Readings the vendor says are missing, e.g. a jump in T&D's data-id."""

    device_id: str
    start: datetime  # the last reading before the gap
    end: datetime  # the first reading after it
    reason: str
