"""Vehicles and their tracks, each position with the temperature read at or just before it."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Prefetch, QuerySet

from monitoring.choices import DeviceKind, InstallationStatus, Quantity
from monitoring.models import (
    Channel,
    Device,
    Position,
    Reading,
    VendorAlert,
)
from monitoring.selectors.series import excursions_between


def vehicles() -> QuerySet[Device]:
    return (
        Device.objects.filter(kind=DeviceKind.VEHICLE)
        .exclude(installation_status=InstallationStatus.RETIRED)
        .select_related("account", "group")
        .defer("account__credentials", "account__session")  # never decrypted to name a vendor
        .prefetch_related(Prefetch("channels", queryset=Channel.objects.order_by("quantity", "name")))
        .order_by("name", "pk")
    )


MAX_TRACK_POINTS = 3000


@dataclass
class TrackPoint:
    timestamp: datetime
    latitude: float
    longitude: float
    speed_kmh: float | None
    temperature: float | None = None
    in_excursion: bool = False


def temperature_channel(device: Device) -> Channel | None:
    return next((c for c in device.channels.all() if c.quantity == Quantity.TEMPERATURE), None)


def track(device: Device, start: datetime, end: datetime, *, thin: bool = True) -> list[TrackPoint]:
    """A vehicle's positions in the range, each with the temperature read at or just before it."""
    rows = list(
        Position.objects.filter(device=device, timestamp__gte=start, timestamp__lte=end)
        .order_by("timestamp")
        .values_list("timestamp", "latitude", "longitude", "speed_kmh")
    )
    if thin and len(rows) > MAX_TRACK_POINTS:
        stride = math.ceil(len(rows) / MAX_TRACK_POINTS)
        rows = rows[::stride] + ([rows[-1]] if (len(rows) - 1) % stride else [])
    points = [TrackPoint(*row) for row in rows]
    channel = temperature_channel(device)
    if channel is None or not points:
        return points
    readings = list(
        Reading.objects.filter(
            channel=channel,
            timestamp__gte=start - timedelta(hours=1),
            timestamp__lte=end,
            value__isnull=False,
        )
        .order_by("timestamp")
        .values_list("timestamp", "value")
    )
    stamps = [r[0] for r in readings]
    excursions = excursions_between([channel], start, end)
    for point in points:
        at = bisect.bisect_right(stamps, point.timestamp) - 1
        if at >= 0 and point.timestamp - stamps[at] <= timedelta(hours=1):
            point.temperature = readings[at][1]
        point.in_excursion = any(
            e.started_at <= point.timestamp and (e.ended_at is None or point.timestamp <= e.ended_at)
            for e in excursions
        )
    return points


@dataclass(frozen=True)
class AlertOnMap:
    """A vendor alert as the map shows it: with the temperature of its vehicle at that time."""

    alert: VendorAlert
    temperature: float | None  # of the vehicle's track point at or just before the alert; None: none


def vehicle_alerts(devices, start: datetime, end: datetime) -> list[VendorAlert]:
    return list(
        VendorAlert.objects.filter(
            device__in=devices, started_at__gte=start, started_at__lte=end, latitude__isnull=False
        )
        .select_related("device")
        .order_by("started_at")
    )


def alerts_on_map(alerts: list[VendorAlert], tracks: dict[Device, list[TrackPoint]]) -> list[AlertOnMap]:
    """Each alert with the temperature of its vehicle's track point at or just before it."""
    by_device = {device.pk: points for device, points in tracks.items()}
    rows = []
    for alert in alerts:
        points = by_device.get(alert.device_id) or []
        at = bisect.bisect_right([p.timestamp for p in points], alert.started_at) - 1
        rows.append(AlertOnMap(alert, points[at].temperature if at >= 0 else None))
    return rows
