"""What state each device is in: the overview, its filters and the groups."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, F, FloatField, Q, QuerySet, Subquery
from django.db.models.functions import Cast, Extract
from django.utils import timezone

from alarms.calibration import certificates_to_mark
from monitoring.choices import ExcursionKind, ExcursionState, InstallationStatus, Quantity
from monitoring.models import (
    AlarmRule,
    Channel,
    DeploymentGroup,
    Device,
    Excursion,
)
from monitoring.rules import rules_for_channels
from vendors.models import VendorAccount

LOW_BATTERY_PERCENT = 20
# Without a no-data rule, a device whose newest reading is older than this shows "no data".
STALE_AFTER = timedelta(hours=2)
STALE_SECONDS = STALE_AFTER.total_seconds()
# "Warning": inside the limits but within this share of the allowed span from one of them.
WARNING_MARGIN = 0.1
WARNING_MARGIN_ONE_LIMIT = 1.0  # °C or %RH, when a rule has a single limit


@dataclass(frozen=True)
class Status:
    slug: str
    label: str  # on the device's card
    css: str  # the colour class; the label always goes with it
    summary: str  # in the summary strip, before its count


# The most urgent first: the overview lists devices in this order, then by name.
STATUSES = {
    s.slug: s
    for s in (
        Status("out_of_range", "Out of range", "bad", "Out of range now"),
        Status("sensor_error", "Sensor error", "bad", "Sensor error"),
        Status("no_data", "No data", "muted", "No data"),
        Status("warning", "Near a limit", "warn", "Near a limit"),
        # In range now, but an excursion is not closed yet: the card says so, never just "In range".
        Status("open_excursion", "Open excursion", "warn", "Open excursion to review"),
        Status("low_battery", "Low battery", "warn", "Low battery"),
        Status("in_range", "In range", "ok", "In range"),
    )
}
SEVERITY = {slug: rank for rank, slug in enumerate(STATUSES)}
STATUS_CHOICES = [(s.slug, s.label) for s in STATUSES.values()]
NOT_CLOSED = [ExcursionState.OPEN, ExcursionState.ACKNOWLEDGED, ExcursionState.INVESTIGATING]
# Cards a page of the overview shows: the worst first, so the first page holds the problems.
PAGE_SIZE = 60


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


@dataclass(slots=True)
class ChannelState:
    """What a channel's status needs (and what ``rules_for_channels`` reads), without a model instance:
    the overview weighs every device to count and order them, and builds cards only for one page."""

    pk: int
    device_id: int
    quantity: str
    last_value: float | None
    last_reading_at: float | None  # seconds since the epoch: 2,000 floats cost less than 2,000 datetimes
    last_error: str
    device: DeviceState | None = None


@dataclass(slots=True)
class DeviceState:
    pk: int
    name: str
    group_id: int | None
    alarm_profile_id: int | None
    battery: float | None
    channel_list: list[ChannelState] = field(default_factory=list)
    open_excursions: int = 0  # not closed: open or acknowledged, ongoing or ended
    ongoing_out_of_range: int = 0
    ongoing_no_data: int = 0
    status: Status | None = None


def device_status(device: DeviceState, rules: dict[int, AlarmRule | None], now: datetime) -> Status:
    """The one status a device shows, the most urgent first. A device with an excursion not closed is
    never "In range": at best "Open excursion"."""
    channels = device.channel_list
    if device.ongoing_out_of_range:
        return STATUSES["out_of_range"]
    if any(c.last_error for c in channels):
        return STATUSES["sensor_error"]
    if device.ongoing_no_data:
        return STATUSES["no_data"]
    fresh = []
    now_seconds = now.timestamp()
    for channel in channels:
        rule = rules.get(channel.pk)
        stale_after = rule.no_data_minutes * 60 if rule and rule.no_data_minutes else STALE_SECONDS
        if channel.last_reading_at and now_seconds - channel.last_reading_at <= stale_after:
            fresh.append(channel)
    if not fresh:
        return STATUSES["no_data"]
    near = False
    for channel in fresh:
        rule = rules.get(channel.pk)
        if rule is None or channel.last_value is None:
            continue
        if _out_of_range(channel.last_value, rule):
            # Out of range now, without an excursion yet (its delay is running).
            return STATUSES["out_of_range"]
        near = near or _near_limit(channel.last_value, rule)
    if near:
        return STATUSES["warning"]
    if device.open_excursions:
        return STATUSES["open_excursion"]
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
    calibration_overdue: bool = False


@dataclass
class Overview:
    """One page of cards, the worst first, and the count of each status under the same filters."""

    page: Page  # of Device instances with channel_list, status, open_excursions and vendor_label
    counts: dict[str, int]  # status slug: devices (vendor, group and search filters; any status)
    total: int  # devices under those filters, any status
    calibration_overdue: int = 0  # of them, devices with a channel whose calibration is overdue

    @property
    def by_status(self) -> list[tuple[Status, int]]:
        """The summary strip: each status, the most urgent first, with its count."""
        return [(status, self.counts[slug]) for slug, status in STATUSES.items()]


def _scope(filters: OverviewFilters) -> QuerySet[Device]:
    devices = Device.objects.all()
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
    return devices


def device_states(filters: OverviewFilters, now: datetime) -> list[DeviceState]:
    """Every device under the filters (any status) with its status, in four queries of plain rows
    (devices, channels, excursions not closed, rules): building 1,000 model instances (and decrypting
    each account's credentials through ``select_related("account")``) cost more than the rest of the
    page."""
    scope = _scope(filters)
    devices = {
        row[0]: DeviceState(*row)
        for row in scope.values_list("pk", "name", "group_id", "alarm_profile_id", "battery")
    }
    # The channels through a subquery, not a list of 1,000 ids: a query of thousands of parameters costs
    # the driver more to parse than the database to run.
    channel_rows = (
        Channel.objects.filter(device__in=Subquery(scope.values("pk")))
        .annotate(seen=Cast(Extract("last_reading_at", "epoch"), FloatField()))
        .values_list("pk", "device_id", "quantity", "last_value", "seen", "last_error")
    )
    channels = []
    for row in channel_rows:
        channel = ChannelState(*row)
        channel.device = devices.get(channel.device_id)
        if channel.device is None:
            continue  # a device a sync added since the query above: it shows at the next refresh
        channel.device.channel_list.append(channel)
        channels.append(channel)
    # Not-closed excursions are few (closed ones are history): counted per device over all of them.
    ongoing = Q(ended_at__isnull=True)
    excursions = (
        Excursion.objects.filter(state__in=NOT_CLOSED)
        .values("channel__device_id")
        .annotate(
            not_closed=Count("pk"),
            out_of_range=Count("pk", filter=ongoing & ~Q(kind=ExcursionKind.NO_DATA)),
            no_data=Count("pk", filter=ongoing & Q(kind=ExcursionKind.NO_DATA)),
        )
        .values_list("channel__device_id", "not_closed", "out_of_range", "no_data")
        .order_by()
    )
    for device_id, open_count, out_of_range, no_data in excursions:
        device = devices.get(device_id)
        if device is not None:
            device.open_excursions = open_count
            device.ongoing_out_of_range = out_of_range
            device.ongoing_no_data = no_data
    rules = rules_for_channels(channels)
    for device in devices.values():
        device.status = device_status(device, rules, now)
    return list(devices.values())


def overview(
    filters: OverviewFilters, page_number: int | str | None = 1, now: datetime | None = None
) -> Overview:
    """The overview: every device weighed, one page of cards built (the worst first, then by name)."""
    now = now or timezone.now()
    states = device_states(filters, now)
    # One query for the whole page: the channels whose calibration is overdue and, where the customer
    # opted in, those whose latest value is shown corrected by their certificate's offset.
    today = timezone.localdate(now)
    marks = certificates_to_mark(today, offsets=settings.CALIBRATION_OFFSETS_SHOWN)
    overdue = {m.device_id for m in marks.values() if m.due_on < today}
    overdue_count = sum(1 for d in states if d.pk in overdue)
    if filters.calibration_overdue:
        states = [d for d in states if d.pk in overdue]
    counts = Counter(d.status.slug for d in states)
    shown = [d for d in states if d.status.slug == filters.status] if filters.status else states
    shown.sort(key=lambda d: (SEVERITY[d.status.slug], d.name.casefold(), d.pk))
    page = Paginator(shown, PAGE_SIZE).get_page(page_number)
    page.object_list = _cards(page.object_list)
    for device in page.object_list:
        device.calibration_overdue = device.pk in overdue
        for channel in device.channel_list:
            channel.calibration = marks.get(channel.pk)  # its offset shows if opted in (the tile)
    return Overview(
        page=page,
        counts={slug: counts.get(slug, 0) for slug in STATUSES},
        total=len(states),
        calibration_overdue=overdue_count,
    )


def _cards(states: list[DeviceState]) -> list[Device]:
    """The devices of one page as model instances, in the page's order, with what their cards show."""
    if not states:
        return []
    ids = [d.pk for d in states]
    vendors = dict(VendorAccount._meta.get_field("vendor").flatchoices)
    devices = {
        d.pk: d
        for d in Device.objects.filter(pk__in=ids)
        .select_related("group")
        .annotate(vendor_slug=F("account__vendor"))
        .defer("readings_cursor", "positions_cursor")
    }
    channels: dict[int, list[Channel]] = {pk: [] for pk in ids}
    for channel in Channel.objects.filter(device_id__in=ids):
        channels[channel.device_id].append(channel)
    cards = []
    for state in states:
        device = devices.get(state.pk)
        if device is None:
            continue  # deleted since it was weighed
        device.vendor_label = vendors.get(device.vendor_slug, device.vendor_slug)
        # Temperature first, as on the device page.
        device.channel_list = sorted(
            channels[device.pk], key=lambda c: (c.quantity != Quantity.TEMPERATURE, c.name)
        )
        for channel in device.channel_list:
            channel.device = device
        device.status = state.status
        device.open_excursions = state.open_excursions
        cards.append(device)
    return cards


def all_groups() -> QuerySet[DeploymentGroup]:
    """The groups' names for the overview's filter (no account: loading one decrypts its credentials)."""
    return DeploymentGroup.objects.only("pk", "name").order_by("name", "pk")


def groups_with_counts() -> QuerySet[DeploymentGroup]:
    return (
        DeploymentGroup.objects.select_related("account")
        .annotate(device_count=Count("devices", filter=~Q(devices__installation_status="retired")))
        .order_by("name", "pk")
    )


def devices_for_groups() -> QuerySet[Device]:
    return Device.objects.select_related("account", "group").order_by("name", "pk")
