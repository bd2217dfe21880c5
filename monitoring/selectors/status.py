"""What state each device is in: the overview, its filters and the groups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from monitoring.choices import ExcursionState, InstallationStatus, Quantity
from monitoring.models import (
    AlarmRule,
    Channel,
    DeploymentGroup,
    Device,
)
from monitoring.rules import rules_for_channels

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
NOT_CLOSED = [ExcursionState.OPEN, ExcursionState.ACKNOWLEDGED, ExcursionState.INVESTIGATING]


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
