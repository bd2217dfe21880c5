"""The alerts list: vendor alerts and our excursions, one row shape for both."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from monitoring.choices import ExcursionState, Severity
from monitoring.models import (
    Device,
    Excursion,
    VendorAlert,
)


@dataclass
class AlertFilters:
    state: str = ""  # open, acknowledged, closed
    severity: str = ""  # warning, alarm
    device: int | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class AlertRow:
    """One line of the alerts list: a vendor alert or one of our excursions."""

    source: str  # "vendor" or "excursion"
    item: object
    started_at: datetime
    ended_at: datetime | None
    device: Device | None
    title: str
    detail: str
    severity: str
    state: str

    @property
    def key(self) -> str:
        return f"{self.source}-{self.item.pk}"


ALERT_LIMIT = 300


def vendor_alert_row(alert: VendorAlert) -> AlertRow:
    return AlertRow(
        source="vendor",
        item=alert,
        started_at=alert.started_at,
        ended_at=alert.ended_at,
        device=alert.device,
        title=alert.alert_type,
        detail=alert.message or alert.address,
        # Vendors give no severity: every vendor alert counts as an alarm.
        severity=Severity.ALARM,
        state=ExcursionState.ACKNOWLEDGED if alert.acknowledged_at else ExcursionState.OPEN,
    )


def excursion_row(excursion: Excursion) -> AlertRow:
    channel = excursion.channel
    unit = channel.get_unit_display()
    limits = " to ".join(
        f"{v:g} {unit}" for v in (excursion.low_limit, excursion.high_limit) if v is not None
    )
    peak = f"peak {excursion.peak_value:.1f} {unit}" if excursion.peak_value is not None else ""
    return AlertRow(
        source="excursion",
        item=excursion,
        started_at=excursion.started_at,
        ended_at=excursion.ended_at,
        device=channel.device,
        title=f"{excursion.get_kind_display()}: {channel.title}",
        detail=", ".join(p for p in (f"limits {limits}" if limits else "", peak) if p),
        severity=excursion.severity,
        state=excursion.state,
    )


def alert_rows(filters: AlertFilters, limit: int = ALERT_LIMIT) -> list[AlertRow]:
    """Vendor alerts and excursions, newest first, in two queries."""
    alerts = VendorAlert.objects.select_related("device", "account", "acknowledged_by")
    excursions = Excursion.objects.select_related("channel__device__account", "acknowledged_by", "closed_by")
    if filters.device:
        alerts = alerts.filter(device_id=filters.device)
        excursions = excursions.filter(channel__device_id=filters.device)
    if filters.start:
        alerts = alerts.filter(started_at__gte=filters.start)
        excursions = excursions.filter(started_at__gte=filters.start)
    if filters.end:
        alerts = alerts.filter(started_at__lt=filters.end)
        excursions = excursions.filter(started_at__lt=filters.end)
    if filters.severity:
        excursions = excursions.filter(severity=filters.severity)
        if filters.severity != Severity.ALARM:
            alerts = alerts.none()
    if filters.state == ExcursionState.OPEN:
        alerts = alerts.filter(acknowledged_at__isnull=True)
    elif filters.state == ExcursionState.ACKNOWLEDGED:
        alerts = alerts.filter(acknowledged_at__isnull=False)
    elif filters.state:  # under investigation, closed, approved: states a vendor alert never has
        alerts = alerts.none()
    if filters.state:
        excursions = excursions.filter(state=filters.state)
    rows = [vendor_alert_row(a) for a in alerts.order_by("-started_at")[:limit]]
    rows += [excursion_row(e) for e in excursions.order_by("-started_at")[:limit]]
    rows.sort(key=lambda r: r.started_at, reverse=True)
    return rows[:limit]


def alert_devices() -> QuerySet[Device]:
    return Device.objects.only("pk", "name").order_by("name", "pk")
