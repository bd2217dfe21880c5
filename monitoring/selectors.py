"""Read-side queries for the pages: a constant number of queries, whatever the number of devices.

Charts never ship raw years: ``channel_series`` returns raw readings for short ranges and per-bucket
minimum and maximum (from the hourly rollups kept at ingest) for long ones, so no peak is hidden and the
cost grows with the buckets shown, not with the readings stored.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from monitoring.choices import DeviceKind, InstallationStatus, Quantity
from monitoring.models import (
    AlarmRule,
    Channel,
    DataGap,
    DeploymentGroup,
    Device,
    Excursion,
    InstallationEvent,
    Position,
    Reading,
    ReadingRollup,
    VendorAlert,
)
from monitoring.models.excursions import ExcursionState, Severity
from monitoring.rules import rules_for_channels
from vendors.models import VendorAccount

# -- device status ----------------------------------------------------------------------------------

LOW_BATTERY_PERCENT = 20
# Without a no-data rule, a device whose newest reading is older than this shows "no data".
STALE_AFTER = timedelta(hours=2)
# "Warning": inside the limits but within this share of the allowed span from one of them.
WARNING_MARGIN = 0.1
WARNING_MARGIN_ONE_LIMIT = 1.0  # °C or %RH, when a rule has a single limit


@dataclass(frozen=True)
class Status:
    slug: str
    label: str
    css: str  # the colour class; the label always goes with it


STATUSES = {
    "excursion": Status("excursion", "Excursion", "bad"),
    "sensor_error": Status("sensor_error", "Sensor error", "bad"),
    "no_data": Status("no_data", "No data", "muted"),
    "warning": Status("warning", "Warning", "warn"),
    "low_battery": Status("low_battery", "Low battery", "warn"),
    "in_range": Status("in_range", "In range", "ok"),
}
STATUS_CHOICES = [(s.slug, s.label) for s in STATUSES.values()]
NOT_CLOSED = [ExcursionState.OPEN, ExcursionState.ACKNOWLEDGED]


def _near_limit(value: float, rule: AlarmRule) -> bool:
    low, high = rule.low_limit, rule.high_limit
    if low is not None and high is not None:
        margin = (high - low) * WARNING_MARGIN
    else:
        margin = WARNING_MARGIN_ONE_LIMIT
    return (low is not None and value < low + margin) or (high is not None and value > high - margin)


def _out_of_range(value: float, rule: AlarmRule) -> bool:
    return (rule.low_limit is not None and value < rule.low_limit) or (
        rule.high_limit is not None and value > rule.high_limit
    )


def device_status(device: Device, rules: dict[int, AlarmRule | None], now: datetime) -> Status:
    """The one status a device shows, the most urgent first."""
    channels = getattr(device, "channel_list", None) or list(device.channels.all())
    if getattr(device, "ongoing_excursions", 0):
        return STATUSES["excursion"]
    if any(c.last_error for c in channels):
        return STATUSES["sensor_error"]
    fresh = []
    for channel in channels:
        rule = rules.get(channel.pk)
        stale_after = (
            timedelta(minutes=rule.no_data_minutes) if rule and rule.no_data_minutes else STALE_AFTER
        )
        if channel.last_reading_at and now - channel.last_reading_at <= stale_after:
            fresh.append(channel)
    if not fresh:
        return STATUSES["no_data"]
    for channel in fresh:
        rule = rules.get(channel.pk)
        if rule is None or channel.last_value is None:
            continue
        if _out_of_range(channel.last_value, rule) or _near_limit(channel.last_value, rule):
            # Out of range without an excursion yet (a delay is running) or close to a limit.
            return STATUSES["warning"]
    if device.battery is not None and device.battery < LOW_BATTERY_PERCENT:
        return STATUSES["low_battery"]
    return STATUSES["in_range"]


@dataclass
class OverviewFilters:
    vendor: str = ""
    group: int | None = None  # 0: devices in no group
    status: str = ""
    search: str = ""
    show_retired: bool = False


def overview_devices(filters: OverviewFilters, now: datetime | None = None) -> list[Device]:
    """Every device with its channels, open excursions and status; three queries whatever the count."""
    now = now or timezone.now()
    not_closed = Q(channels__excursions__state__in=NOT_CLOSED)
    devices = (
        Device.objects.select_related("account", "group")
        .annotate(
            open_excursions=Count("channels__excursions", filter=not_closed, distinct=True),
            ongoing_excursions=Count(
                "channels__excursions",
                filter=not_closed & Q(channels__excursions__ended_at__isnull=True),
                distinct=True,
            ),
        )
        .order_by("name", "pk")
    )
    if not filters.show_retired:
        devices = devices.exclude(installation_status=InstallationStatus.RETIRED)
    if filters.vendor:
        devices = devices.filter(account__vendor=filters.vendor)
    if filters.group == 0:
        devices = devices.filter(group__isnull=True)
    elif filters.group:
        devices = devices.filter(group_id=filters.group)
    if filters.search:
        term = filters.search
        devices = devices.filter(
            Q(name__icontains=term) | Q(vendor_id__icontains=term) | Q(site__icontains=term)
        )
    devices = list(devices)
    # Channels in one query, grouped here: with prefetch_related each device's .all() clones a query
    # holding every device id, which costs more than the rest of the page at 1,000 devices.
    by_device: dict[int, list[Channel]] = {d.pk: [] for d in devices}
    channels = Channel.objects.filter(device_id__in=list(by_device)).order_by("device_id", "quantity", "name")
    for channel in channels:
        by_device[channel.device_id].append(channel)
    for device in devices:
        # Temperature first, as on the device page.
        device.channel_list = sorted(
            by_device[device.pk], key=lambda c: (c.quantity != Quantity.TEMPERATURE, c.name)
        )
        for channel in device.channel_list:
            channel.device = device
    rules = rules_for_channels([c for d in devices for c in d.channel_list])
    for device in devices:
        device.status = device_status(device, rules, now)
    if filters.status:
        devices = [d for d in devices if d.status.slug == filters.status]
    return devices


def all_groups() -> QuerySet[DeploymentGroup]:
    return DeploymentGroup.objects.select_related("account").order_by("name", "pk")


def groups_with_counts() -> QuerySet[DeploymentGroup]:
    return (
        DeploymentGroup.objects.select_related("account")
        .annotate(device_count=Count("devices", filter=~Q(devices__installation_status="retired")))
        .order_by("name", "pk")
    )


def devices_for_groups() -> QuerySet[Device]:
    return Device.objects.select_related("account", "group").order_by("name", "pk")


# -- device detail ----------------------------------------------------------------------------------


def device_detail(device_id: int) -> Device | None:
    return (
        Device.objects.select_related("account", "group")
        .prefetch_related(Prefetch("channels", queryset=Channel.objects.order_by("quantity", "name")))
        .filter(pk=device_id)
        .first()
    )


def latest_readings(device: Device, limit: int = 20) -> list[Reading]:
    return list(
        Reading.objects.filter(channel__device=device)
        .select_related("channel")
        .order_by("-timestamp", "channel__name")[:limit]
    )


def installation_history(device: Device) -> QuerySet[InstallationEvent]:
    return device.installation_events.select_related("user").order_by("-timestamp", "-pk")


def excursions_between(channels, start: datetime, end: datetime) -> list[Excursion]:
    return list(
        Excursion.objects.filter(channel__in=channels, started_at__lt=end)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=start))
        .select_related("channel")
        .order_by("started_at")
    )


def gaps_between(device: Device, start: datetime, end: datetime) -> list[DataGap]:
    return list(DataGap.objects.filter(device=device, start__lt=end, end__gt=start).order_by("start"))


# Ranges up to this long are drawn from the raw readings; longer ones from hourly rollups in buckets.
RAW_MAX_SPAN = timedelta(days=3)
MAX_BUCKETS = 1000


@dataclass
class Series:
    """What one channel's chart draws. ``kind`` is "raw" (``values``) or "buckets" (``minimum`` /
    ``maximum`` / ``mean`` per bucket start). A ``None`` value is a hole: the line is never drawn across it.
    """

    channel: Channel
    kind: str
    times: list[datetime] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    minimum: list[float | None] = field(default_factory=list)
    maximum: list[float | None] = field(default_factory=list)
    mean: list[float | None] = field(default_factory=list)
    error_times: list[datetime] = field(default_factory=list)
    error_values: list[float | None] = field(default_factory=list)
    error_labels: list[str] = field(default_factory=list)
    bucket: timedelta | None = None


def bucket_size(start: datetime, end: datetime) -> timedelta:
    hours = max(1, math.ceil((end - start).total_seconds() / 3600 / MAX_BUCKETS))
    return timedelta(hours=hours)


def channel_series(
    channel: Channel, start: datetime, end: datetime, gaps=(), *, raw_available: bool = True
) -> Series:
    """``raw_available=False`` when the range reaches into an archived month (``monitoring/archive.py``):
    its raw readings are in a file, not the table, and its hourly rollups draw it."""
    if end - start <= RAW_MAX_SPAN and raw_available:
        return _raw_series(channel, start, end, gaps)
    return _bucket_series(channel, start, end, gaps)


def _in_gap(moment: datetime, gaps) -> bool:
    return any(g.start <= moment <= g.end for g in gaps)


def _raw_series(channel: Channel, start: datetime, end: datetime, gaps) -> Series:
    rows = list(
        Reading.objects.filter(channel=channel, timestamp__gte=start, timestamp__lte=end)
        .order_by("timestamp")
        .values_list("timestamp", "value", "error")
    )
    series = Series(channel=channel, kind="raw")
    if not rows:
        return series
    steps = [(b[0] - a[0]).total_seconds() for a, b in zip(rows, rows[1:], strict=False)]
    usual = median(steps) if steps else 0
    # A hole is a step much longer than the usual interval, or one across a gap the vendor reported.
    hole_after = max(usual * 2.5, 120)
    last_value = None
    previous = None
    for timestamp, value, error in rows:
        if previous is not None:
            step = (timestamp - previous).total_seconds()
            middle = previous + (timestamp - previous) / 2
            if step > hole_after or (gaps and _in_gap(middle, gaps)):
                series.times.append(middle)
                series.values.append(None)
        previous = timestamp
        if error or value is None:
            series.error_times.append(timestamp)
            series.error_values.append(last_value)
            series.error_labels.append(error or "invalid value")
            series.times.append(timestamp)
            series.values.append(None)
            continue
        series.times.append(timestamp)
        series.values.append(value)
        last_value = value
    return series


def _bucket_series(channel: Channel, start: datetime, end: datetime, gaps) -> Series:
    size = bucket_size(start, end)
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    rows = (
        ReadingRollup.objects.filter(channel=channel, hour__gte=first_hour, hour__lt=end)
        .order_by("hour")
        .values_list("hour", "minimum", "maximum", "total", "count", "errors")
    )
    buckets: dict[int, list] = {}
    seconds = size.total_seconds()
    for hour, low, high, total, count, errors in rows.iterator(chunk_size=5000):
        index = int((hour - first_hour).total_seconds() // seconds)
        bucket = buckets.get(index)
        if bucket is None:
            buckets[index] = [low, high, total or 0.0, count, errors]
            continue
        if low is not None:
            bucket[0] = low if bucket[0] is None else min(bucket[0], low)
        if high is not None:
            bucket[1] = high if bucket[1] is None else max(bucket[1], high)
        bucket[2] += total or 0.0
        bucket[3] += count
        bucket[4] += errors
    series = Series(channel=channel, kind="buckets", bucket=size)
    if not buckets:
        return series
    last_mean = None
    previous_index = None
    for index in sorted(buckets):
        low, high, total, count, errors = buckets[index]
        moment = first_hour + size * index
        if previous_index is not None and index > previous_index + 1:
            # Empty buckets between two with data: a hole, never a line across it.
            series.times.append(first_hour + size * (previous_index + 1))
            for values in (series.minimum, series.maximum, series.mean):
                values.append(None)
        previous_index = index
        if errors:
            series.error_times.append(moment)
            series.error_values.append(low if low is not None else last_mean)
            series.error_labels.append(f"{errors} sensor error{'s' if errors != 1 else ''}")
        series.times.append(moment)
        if count:
            mean = total / count
            series.minimum.append(low)
            series.maximum.append(high)
            series.mean.append(mean)
            last_mean = mean
        else:
            for values in (series.minimum, series.maximum, series.mean):
                values.append(None)
    return series


# -- vehicles ---------------------------------------------------------------------------------------


def vehicles() -> QuerySet[Device]:
    return (
        Device.objects.filter(kind=DeviceKind.VEHICLE)
        .exclude(installation_status=InstallationStatus.RETIRED)
        .select_related("account", "group")
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


def vehicle_alerts(devices, start: datetime, end: datetime) -> list[VendorAlert]:
    return list(
        VendorAlert.objects.filter(
            device__in=devices, started_at__gte=start, started_at__lte=end, latitude__isnull=False
        )
        .select_related("device")
        .order_by("started_at")
    )


# -- alerts -----------------------------------------------------------------------------------------


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
    elif filters.state == ExcursionState.CLOSED:
        alerts = alerts.none()
    if filters.state:
        excursions = excursions.filter(state=filters.state)
    rows = [vendor_alert_row(a) for a in alerts.order_by("-started_at")[:limit]]
    rows += [excursion_row(e) for e in excursions.order_by("-started_at")[:limit]]
    rows.sort(key=lambda r: r.started_at, reverse=True)
    return rows[:limit]


def alert_devices() -> QuerySet[Device]:
    return Device.objects.only("pk", "name").order_by("name", "pk")


# -- sync status ------------------------------------------------------------------------------------


def accounts_with_counts(now: datetime | None = None) -> list[VendorAccount]:
    """Accounts with their device count and the readings stored for the last 24 hours (from rollups)."""
    now = now or timezone.now()
    since = (now - timedelta(hours=24)).replace(minute=0, second=0, microsecond=0)
    readings = (
        ReadingRollup.objects.filter(hour__gte=since)
        .values("channel__device__account")
        .annotate(n=Sum("count") + Sum("errors"))
    )
    per_account = {row["channel__device__account"]: row["n"] for row in readings}
    accounts = list(VendorAccount.objects.annotate(device_count=Count("devices")).order_by("name"))
    for account in accounts:
        account.readings_24h = per_account.get(account.pk, 0)
    return accounts


def account_progress(account: VendorAccount, requested_at: datetime, now: datetime | None = None) -> dict:
    """Where a sync asked for at ``requested_at`` stands: queued, running, done or failed."""
    now = now or timezone.now()
    running = bool(account.sync_lock_until and account.sync_lock_until > now)
    started = account.last_sync_started_at and account.last_sync_started_at >= requested_at
    if account.last_error_at and account.last_error_at >= requested_at and not running:
        return {"state": "failed", "done": True}
    if account.last_success_at and account.last_success_at >= requested_at and not running:
        return {"state": "done", "done": True}
    if running and started:
        return {"state": "running", "done": False}
    return {"state": "queued", "done": False}
