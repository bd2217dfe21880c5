"""What state each device is in: the overview, its filters and the groups."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connections, router
from django.db.models import Count, F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from alarms.calibration import certificates_to_mark
from monitoring.choices import ExcursionKind, ExcursionState, InstallationStatus, Quantity
from monitoring.models import (
    Channel,
    DeploymentGroup,
    Device,
)
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


# The rules of ``device_status`` in SQL, one row per device of the scope: its status's rank (``SEVERITY``)
# and its excursions not closed, the worst first, then by name. Weighing 1,000 devices in Python (their
# 2,000 channels, rules and excursions as rows) cost more than the rest of the page; the database does it
# where the rows are. Each channel's rule is the nearest one as ``rules_for_channels`` picks it: a rule
# naming the channel (its own quantity first), else, unless the channel's quantity is "other", its
# device's, its group's, its profile's; the oldest of a level wins.
STATUS_SQL = """
WITH scope (scope_id) AS ({scope}),
named AS (
    SELECT DISTINCT ON (rule.channel_id) rule.channel_id, rule.id
    FROM monitoring_alarmrule AS rule JOIN monitoring_channel AS channel ON channel.id = rule.channel_id
    WHERE rule.enabled
    ORDER BY rule.channel_id, rule.quantity <> channel.quantity, rule.id
), by_device AS (
    SELECT DISTINCT ON (device_id, quantity) device_id, quantity, id FROM monitoring_alarmrule
    WHERE enabled AND device_id IS NOT NULL ORDER BY device_id, quantity, id
), by_group AS (
    SELECT DISTINCT ON (group_id, quantity) group_id, quantity, id FROM monitoring_alarmrule
    WHERE enabled AND group_id IS NOT NULL ORDER BY group_id, quantity, id
), by_profile AS (
    SELECT DISTINCT ON (profile_id, quantity) profile_id, quantity, id FROM monitoring_alarmrule
    WHERE enabled AND profile_id IS NOT NULL ORDER BY profile_id, quantity, id
), ruled AS (
    SELECT channel.device_id, channel.last_value, channel.last_reading_at, channel.last_error,
           COALESCE(named.id, CASE WHEN channel.quantity <> '{other}'
                                   THEN COALESCE(by_device.id, by_group.id, by_profile.id) END) AS rule_id
    FROM monitoring_channel AS channel
    JOIN monitoring_device AS device ON device.id = channel.device_id
    LEFT JOIN named ON named.channel_id = channel.id
    LEFT JOIN by_device ON by_device.device_id = channel.device_id AND by_device.quantity = channel.quantity
    LEFT JOIN by_group ON by_group.group_id = device.group_id AND by_group.quantity = channel.quantity
    LEFT JOIN by_profile
        ON by_profile.profile_id = device.alarm_profile_id AND by_profile.quantity = channel.quantity
    WHERE channel.device_id IN (SELECT scope_id FROM scope)
), fresh AS (
    SELECT ruled.*, rule.low_limit AS low, rule.high_limit AS high,
           ruled.last_reading_at >= %s - make_interval(secs => CASE WHEN rule.no_data_minutes > 0
               THEN rule.no_data_minutes * 60 ELSE {stale_seconds} END) AS fresh,
           CASE WHEN rule.low_limit IS NOT NULL AND rule.high_limit IS NOT NULL
                THEN (rule.high_limit - rule.low_limit) * {margin} ELSE {margin_one_limit} END AS margin
    FROM ruled LEFT JOIN monitoring_alarmrule AS rule ON rule.id = ruled.rule_id
), channels AS (
    SELECT device_id,
           bool_or(last_error <> '') AS sensor_error,
           bool_or(fresh) AS any_fresh,
           bool_or(fresh AND (last_value < low OR last_value > high)) AS out_of_range,
           bool_or(fresh AND (last_value < low + margin OR last_value > high - margin)) AS near_limit
    FROM fresh GROUP BY device_id
), excursions AS (
    SELECT channel.device_id,
           count(*) AS not_closed,
           count(*) FILTER (WHERE ended_at IS NULL AND kind <> '{no_data_kind}') AS out_of_range,
           count(*) FILTER (WHERE ended_at IS NULL AND kind = '{no_data_kind}') AS no_data
    FROM monitoring_excursion AS excursion
    JOIN monitoring_channel AS channel ON channel.id = excursion.channel_id
    WHERE excursion.state IN ({not_closed}) AND channel.device_id IN (SELECT scope_id FROM scope)
    GROUP BY channel.device_id
)
SELECT device.id,
       CASE WHEN excursions.out_of_range > 0 THEN {out_of_range}
            WHEN channels.sensor_error THEN {sensor_error}
            WHEN excursions.no_data > 0 THEN {no_data}
            WHEN channels.any_fresh IS NOT TRUE THEN {no_data}
            WHEN channels.out_of_range THEN {out_of_range}
            WHEN channels.near_limit THEN {warning}
            WHEN excursions.not_closed > 0 THEN {open_excursion}
            WHEN device.battery < {low_battery_percent} THEN {low_battery}
            ELSE {in_range} END AS severity,
       COALESCE(excursions.not_closed, 0)
FROM monitoring_device AS device
LEFT JOIN channels ON channels.device_id = device.id
LEFT JOIN excursions ON excursions.device_id = device.id
WHERE device.id IN (SELECT scope_id FROM scope)
ORDER BY severity, lower(device.name) COLLATE "C", device.id
"""


def _float(value: float) -> str:
    """A constant of ours as SQL: its repr reads back as the same double, so SQL and Python agree."""
    return f"CAST('{float(value)!r}' AS double precision)"


def _status_sql(scope_sql: str) -> str:
    return STATUS_SQL.format(
        scope=scope_sql,
        other=Quantity.OTHER,
        no_data_kind=ExcursionKind.NO_DATA,
        not_closed=", ".join(f"'{state}'" for state in NOT_CLOSED),
        stale_seconds=_float(STALE_SECONDS),
        margin=_float(WARNING_MARGIN),
        margin_one_limit=_float(WARNING_MARGIN_ONE_LIMIT),
        low_battery_percent=_float(LOW_BATTERY_PERCENT),
        **SEVERITY,
    )


@dataclass(slots=True)
class DeviceState:
    """A device as the overview weighs it: its status and its excursions not closed."""

    pk: int
    status: Status
    open_excursions: int


def device_states(filters: OverviewFilters, now: datetime) -> list[DeviceState]:
    """Every device under the filters (any status) with its status, the worst first, then by name
    (one query)."""
    # Unordered: the devices' default order (by name) would sort the scope for nothing.
    scope_sql, scope_params = _scope(filters).order_by().values("pk").query.sql_with_params()
    statuses = list(STATUSES.values())
    with connections[router.db_for_read(Device)].cursor() as cursor:
        cursor.execute(_status_sql(scope_sql), [*scope_params, now])
        return [DeviceState(pk, statuses[rank], count) for pk, rank, count in cursor.fetchall()]


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
        devices = search_devices(devices, filters.search)
    return devices


def search_devices(devices: QuerySet[Device], term: str) -> QuerySet[Device]:
    """The devices whose name, vendor id or site holds ``term`` (any case): the pages' search box."""
    return devices.filter(Q(name__icontains=term) | Q(vendor_id__icontains=term) | Q(site__icontains=term))


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
    # In order already: the worst first, then by name.
    shown = [d for d in states if d.status.slug == filters.status] if filters.status else states
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


# What ``device_tile`` reads of a device and its channels (another field would cost a query per card).
CARD_DEVICE_FIELDS = ("pk", "name", "installation_status", "current_value_only", "battery", "group__name")
URL_PLACEHOLDER = 987654321


def url_for_each(name: str, *args) -> Callable[[int], str]:
    """``reverse(name, args=[*args, pk])`` for the many pks of a page, the URL reversed once: a reversal
    per row was a tenth of a list's time."""
    url = reverse(name, args=[*args, URL_PLACEHOLDER])
    return lambda pk: url.replace(str(URL_PLACEHOLDER), str(pk))


CARD_CHANNEL_FIELDS = (
    "pk",
    "device_id",
    "name",
    "label",
    "quantity",
    "unit",
    "last_value",
    "last_reading_at",
    "last_error",
)


def _cards(states: list[DeviceState]) -> list[Device]:
    """The devices of one page as model instances, in the page's order, with what their cards show."""
    if not states:
        return []
    ids = [d.pk for d in states]
    vendors = dict(VendorAccount._meta.get_field("vendor").flatchoices)
    device_url = url_for_each("device_detail")
    devices = {
        d.pk: d
        for d in Device.objects.filter(pk__in=ids)
        .select_related("group")
        .annotate(vendor_slug=F("account__vendor"))
        # Only what a card shows: a row's every column (times above all) costs its parsing.
        .only(*CARD_DEVICE_FIELDS)
    }
    channels: dict[int, list[Channel]] = {pk: [] for pk in ids}
    for channel in Channel.objects.filter(device_id__in=ids).only(*CARD_CHANNEL_FIELDS):
        channels[channel.device_id].append(channel)
    cards = []
    for state in states:
        device = devices.get(state.pk)
        if device is None:
            continue  # deleted since it was weighed
        device.vendor_label = vendors.get(device.vendor_slug, device.vendor_slug)
        device.detail_url = device_url(device.pk)
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
    # The account for its vendor's name only: never its credentials, each a decryption (1,000 a page).
    return (
        Device.objects.select_related("account", "group")
        .defer("account__credentials", "account__session")
        .order_by("name", "pk")
    )


def listed(devices) -> list[Device]:
    """The devices of a list with what it shows worked out once for the page: the vendor and the
    installation status in words, and the device page's URL (1,000 reversals and Django's choices dict
    rebuilt at each ``get_FOO_display`` were most of the Devices page's time)."""
    vendors = dict(VendorAccount._meta.get_field("vendor").flatchoices)
    statuses = dict(InstallationStatus.choices)
    device_url = url_for_each("device_detail")
    rows = list(devices)
    for device in rows:
        device.vendor_label = vendors.get(device.account.vendor, device.account.vendor)
        device.status_label = statuses.get(device.installation_status, device.installation_status)
        device.detail_url = device_url(device.pk)
    return rows
