"""Rows for the CSV exports (the CLI and the dashboard's download use the same columns).

Numbers stay numbers in the rows (``float``, ``None`` for empty): the writer (``monitoring.csv_cells``)
neutralises text cells that a spreadsheet would run as formulas, and must see a negative temperature as
a number, not as text starting with "-"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from monitoring.models import Position, Reading

READING_COLUMNS = [
    "vendor",
    "account",
    "device_id",
    "device_name",
    "channel",
    "quantity",
    "unit",
    "timestamp",
    "value",
    "error",
    "channel_label",  # the name shown (the vendor's display name); "channel" is the vendor's key
]
POSITION_COLUMNS = [
    "vendor",
    "account",
    "device_id",
    "device_name",
    "timestamp",
    "latitude",
    "longitude",
    "speed_kmh",
]


def utc_stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: float | None) -> float | None:
    # The csv module writes a float as repr(): the shortest text that reads back as the same number.
    return None if value is None else float(value)


def _filter(
    qs,
    prefix: str,
    *,
    account: str = "",
    device: str = "",
    device_pk: int | None = None,
    start=None,
    end=None,
):
    if account:
        qs = qs.filter(**{f"{prefix}account__name": account})
    if device:
        qs = qs.filter(**{f"{prefix}vendor_id": device})
    if device_pk:
        qs = qs.filter(**{f"{prefix}pk": device_pk})
    if start:
        qs = qs.filter(timestamp__gte=start)
    if end:
        qs = qs.filter(timestamp__lte=end)
    return qs


def reading_rows(**filters) -> Iterator[list]:
    qs = _filter(Reading.objects.all(), "channel__device__", **filters).order_by(
        "channel__device__account__name", "channel__device__vendor_id", "channel__name", "timestamp"
    )
    values = qs.values_list(
        "channel__device__account__vendor",
        "channel__device__account__name",
        "channel__device__vendor_id",
        "channel__device__name",
        "channel__name",
        "channel__label",
        "channel__quantity",
        "channel__unit",
        "timestamp",
        "value",
        "error",
    )
    for vendor, account, device_id, name, channel, label, quantity, unit, ts, value, error in values.iterator(
        chunk_size=5000
    ):
        yield [
            vendor,
            account,
            device_id,
            name,
            channel,
            quantity,
            unit,
            utc_stamp(ts),
            _number(value),
            error,
            label or channel,
        ]


def position_rows(**filters) -> Iterator[list]:
    qs = _filter(Position.objects.all(), "device__", **filters).order_by(
        "device__account__name", "device__vendor_id", "timestamp"
    )
    values = qs.values_list(
        "device__account__vendor",
        "device__account__name",
        "device__vendor_id",
        "device__name",
        "timestamp",
        "latitude",
        "longitude",
        "speed_kmh",
    )
    for vendor, account, device_id, name, ts, lat, lon, speed in values.iterator(chunk_size=5000):
        yield [vendor, account, device_id, name, utc_stamp(ts), _number(lat), _number(lon), _number(speed)]
