"""The Alerts inbox: our excursions, and the vendors' events grouped by device and kind.

Excursions needing attention (open, acknowledged, under investigation) are all reachable, whatever their
age: no limit cuts them, they come in pages of ``ATTENTION_PAGE`` (open ones first) with "show more".
Closed ones are history, newest first, in pages of ``CLOSED_PAGE`` with "show more" too. Vendor events
come by the hundred (a truck enters a zone every few minutes), so they are grouped by device and event
code ("52 zone entries, last 22:52"); a group opens to its newest ``GROUP_EVENTS_LIMIT`` events.

A vendor's temperature alarm and our excursion of the same event are linked (``matching_excursions``,
``matching_vendor_alerts``): same device, the alarm inside the excursion's span give or take
``MATCH_WINDOW``. One signed acknowledgement of the excursion covers both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import BooleanField, Case, Count, IntegerField, Max, Min, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.utils import timezone

from monitoring.choices import ExcursionKind, ExcursionState, Quantity, Severity
from monitoring.models import Device, Excursion, VendorAlert
from monitoring.vendor_events import PLURALS, EventKind, event_kind, may_acknowledge_in_bulk
from vendors.models import VendorAccount

# Excursions to handle, a page at a time: a fleet with a bad night has hundreds, and drawing each row
# with its signature form is what the page's time went to (issue 15).
ATTENTION_PAGE = 50
# Closed excursions, a page at a time: years of history stay reachable without drawing them all.
CLOSED_PAGE = 50
# The states of an excursion that needs nothing more: history, not the inbox's "to handle".
DONE_STATES = (ExcursionState.CLOSED, ExcursionState.APPROVED)
GROUP_EVENTS_LIMIT = 50
# A vendor's alarm rule and ours have their own delays: an alarm this far outside an excursion's span is
# still the same event.
MATCH_WINDOW = timedelta(minutes=30)


@dataclass
class AlertFilters:
    state: str = ""  # open, acknowledged, closed
    severity: str = ""  # warning, alarm
    device: int | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class VendorEventFilters:
    account: int | None = None  # the source: a vendor account
    kind: str = ""  # an EventKind
    device: int | None = None
    state: str = ""  # "open" (not acknowledged) or "acknowledged"
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class AlertRow:
    """One line of the inbox: a vendor event or one of our excursions."""

    source: str  # "vendor" or "excursion"
    item: object
    started_at: datetime
    ended_at: datetime | None
    device: Device | None
    title: str
    detail: str
    severity: str
    state: str
    channel: str = ""  # the channel's name, for an excursion
    kind: str = ""  # for a vendor event: an EventKind
    excursion: Excursion | None = None  # for a vendor temperature alarm: our excursion of the same event
    # For an excursion: the vendors' temperature alarms of the same event its acknowledgement covers.
    vendor_alarms: list[VendorAlert] = field(default_factory=list)
    covered: int = 0  # after an excursion's acknowledgement: how many vendor alarms it acknowledged too
    kind_label: str = ""  # for an excursion: its kind in words
    # An excursion's links (``monitoring.views.alerts``: reversed once for a page of rows).
    device_url: str = ""
    detail_url: str = ""
    acknowledge_url: str = ""

    @property
    def key(self) -> str:
        return f"{self.source}-{self.item.pk}"


@dataclass
class VendorEventGroup:
    """The events of one code on one device (or on the account, for events without a device)."""

    account: VendorAccount
    device: Device | None
    alert_type: str
    kind: str
    count: int
    unacknowledged: int
    first_at: datetime
    last_at: datetime
    sample_message: str = ""
    rows: list[AlertRow] = field(default_factory=list)  # its events, when shown
    total: int = 0

    @property
    def key(self) -> str:
        # The code last: it may hold a colon.
        return f"{self.account.pk}:{self.device.pk if self.device else ''}:{self.alert_type}"

    @property
    def words(self) -> str:
        return EventKind(self.kind).label

    @property
    def count_in_words(self) -> str:
        if self.count == 1:
            return f"1 {EventKind(self.kind).label.lower()}"
        return f"{self.count} {PLURALS[EventKind(self.kind)]}"

    @property
    def bulk(self) -> bool:
        return may_acknowledge_in_bulk(self.kind)

    @property
    def html_id(self) -> str:
        # A vendor's code may hold any character: the element's id is a digest of the key.
        return "group-" + hashlib.sha256(self.key.encode()).hexdigest()[:12]


def parse_group_key(key: str) -> tuple[int, int | None, str] | None:
    """(account id, device id or None, code) of a ``VendorEventGroup.key``; None if malformed."""
    parts = key.split(":", 2)
    if len(parts) != 3 or not parts[0].isdigit() or (parts[1] and not parts[1].isdigit()) or not parts[2]:
        return None
    return int(parts[0]), int(parts[1]) if parts[1] else None, parts[2]


def vendor_alert_row(alert: VendorAlert, excursion: Excursion | None = None) -> AlertRow:
    kind = event_kind(alert.alert_type, alert.message)
    return AlertRow(
        source="vendor",
        item=alert,
        started_at=alert.started_at,
        ended_at=alert.ended_at,
        device=alert.device,
        title=EventKind(kind).label,
        detail=alert.message or alert.address,
        # Vendors give no severity: every vendor event counts as an alarm.
        severity=Severity.ALARM,
        state=ExcursionState.ACKNOWLEDGED if alert.acknowledged_at else ExcursionState.OPEN,
        kind=kind,
        excursion=excursion,
    )


def excursion_row(excursion: Excursion) -> AlertRow:
    channel = excursion.channel
    unit = channel.get_unit_display()
    limits = " to ".join(
        f"{v:g} {unit}" for v in (excursion.low_limit, excursion.high_limit) if v is not None
    )
    peak = f"peak {excursion.peak_value:.1f} {unit}" if excursion.peak_value is not None else ""
    title, kind = channel.title, excursion.get_kind_display()
    return AlertRow(
        source="excursion",
        item=excursion,
        started_at=excursion.started_at,
        ended_at=excursion.ended_at,
        device=channel.device,
        title=f"{kind}: {title}",
        detail=", ".join(p for p in (f"limits {limits}" if limits else "", peak) if p),
        severity=excursion.severity,
        state=excursion.state,
        channel=title,
        kind_label=kind,
    )


def _excursions(filters: AlertFilters) -> QuerySet[Excursion]:
    # Not the device's account: a row never shows it, and each account built decrypts its credentials.
    excursions = Excursion.objects.select_related("channel__device", "acknowledged_by", "closed_by")
    if filters.device:
        excursions = excursions.filter(channel__device_id=filters.device)
    if filters.start:
        excursions = excursions.filter(started_at__gte=filters.start)
    if filters.end:
        excursions = excursions.filter(started_at__lt=filters.end)
    if filters.severity:
        excursions = excursions.filter(severity=filters.severity)
    if filters.state:
        excursions = excursions.filter(state=filters.state)
    return excursions


def _needing_attention(filters: AlertFilters) -> QuerySet[Excursion]:
    return _excursions(filters).exclude(state__in=DONE_STATES)


def count_needing_attention(filters: AlertFilters) -> int:
    if filters.state in DONE_STATES:
        return 0
    return _needing_attention(filters).count()


def excursions_needing_attention(
    filters: AlertFilters, offset: int = 0, limit: int | None = None
) -> list[AlertRow]:
    """The open, acknowledged or under investigation excursions the filters allow, however old: open ones
    first, each newest first; ``limit`` of them from ``offset`` (all without a limit). A forgotten
    excursion from last month is exactly what must not be missed: the page offers "show more" until
    the last one."""
    if filters.state in DONE_STATES:
        return []
    open_first = Case(
        When(state=ExcursionState.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    excursions = _needing_attention(filters).order_by(open_first, "-started_at", "-pk")
    stop = None if limit is None else offset + limit
    excursions = list(excursions[offset:stop])
    alarms = vendor_alerts_by_excursion([e for e in excursions if e.state == ExcursionState.OPEN])
    rows = [excursion_row(e) for e in excursions]
    for row in rows:
        row.vendor_alarms = alarms.get(row.item.pk, [])
    return rows


def _closed(filters: AlertFilters) -> QuerySet[Excursion]:
    if filters.state and filters.state not in DONE_STATES:
        return Excursion.objects.none()
    return _excursions(filters).filter(state__in=DONE_STATES)


def closed_excursions(filters: AlertFilters, offset: int = 0, limit: int = CLOSED_PAGE) -> list[AlertRow]:
    """The closed (or approved) excursions the filters allow, newest first: ``limit`` from ``offset``."""
    excursions = _closed(filters).order_by("-started_at", "-pk")[offset : offset + limit]
    return [excursion_row(e) for e in excursions]


def count_closed(filters: AlertFilters) -> int:
    return _closed(filters).count()


def _vendor_alerts(filters: VendorEventFilters) -> QuerySet[VendorAlert]:
    alerts = VendorAlert.objects.all()
    if filters.account:
        alerts = alerts.filter(account_id=filters.account)
    if filters.device:
        alerts = alerts.filter(device_id=filters.device)
    if filters.start:
        alerts = alerts.filter(started_at__gte=filters.start)
    if filters.end:
        alerts = alerts.filter(started_at__lt=filters.end)
    if filters.state == ExcursionState.OPEN:
        alerts = alerts.filter(acknowledged_at__isnull=True)
    elif filters.state == ExcursionState.ACKNOWLEDGED:
        alerts = alerts.filter(acknowledged_at__isnull=False)
    return alerts


def vendor_event_groups(filters: VendorEventFilters) -> list[VendorEventGroup]:
    """The vendors' events grouped by device and code, in three queries whatever their number; those
    still to acknowledge first, then the most recent."""
    found = (
        _vendor_alerts(filters)
        .values("account_id", "device_id", "alert_type")
        .annotate(
            count=Count("id"),
            unacknowledged=Count("id", filter=Q(acknowledged_at__isnull=True)),
            first_at=Min("started_at"),
            last_at=Max("started_at"),
            sample_message=Max("message"),
        )
        .order_by()
    )
    found = list(found)
    accounts = VendorAccount.objects.in_bulk({g["account_id"] for g in found})
    devices = Device.objects.only("pk", "name", "kind").in_bulk(
        {g["device_id"] for g in found if g["device_id"]}
    )
    groups = []
    for g in found:
        kind = event_kind(g["alert_type"], g["sample_message"] or "")
        if filters.kind and kind != filters.kind:
            continue
        groups.append(
            VendorEventGroup(
                account=accounts[g["account_id"]],
                device=devices.get(g["device_id"]),
                alert_type=g["alert_type"],
                kind=kind,
                count=g["count"],
                unacknowledged=g["unacknowledged"],
                first_at=g["first_at"],
                last_at=g["last_at"],
                sample_message=g["sample_message"] or "",
            )
        )
    groups.sort(key=lambda g: g.last_at, reverse=True)
    groups.sort(key=lambda g: g.unacknowledged == 0)
    return groups


def group_events(
    filters: VendorEventFilters, key: str, limit: int = GROUP_EVENTS_LIMIT
) -> tuple[list[AlertRow], int]:
    """The newest events of one group (``VendorEventGroup.key``), each temperature alarm with the
    excursion it matches; and how many the group holds."""
    parsed = parse_group_key(key)
    if parsed is None:
        return [], 0
    alerts = group_queryset(filters, key)
    total = alerts.count()
    alerts = list(
        alerts.select_related("device", "account", "acknowledged_by").order_by("-started_at", "-pk")[:limit]
    )
    matches = matching_excursions(alerts)
    return [vendor_alert_row(a, matches.get(a.pk)) for a in alerts], total


def group_queryset(filters: VendorEventFilters, key: str) -> QuerySet[VendorAlert]:
    parsed = parse_group_key(key)
    if parsed is None:
        return VendorAlert.objects.none()
    account_id, device_id, alert_type = parsed
    alerts = _vendor_alerts(filters).filter(account_id=account_id, alert_type=alert_type)
    return alerts.filter(device_id=device_id) if device_id else alerts.filter(device__isnull=True)


def matching_excursions(alerts: list[VendorAlert]) -> dict[int, Excursion]:
    """For each vendor temperature alarm of ``alerts``, our out-of-range excursion of the same event (same
    device, the alarm within the excursion's span give or take ``MATCH_WINDOW``), in one query."""
    temperature = [
        a for a in alerts if a.device_id and event_kind(a.alert_type, a.message) == EventKind.TEMPERATURE
    ]
    if not temperature:
        return {}
    earliest = min(a.started_at for a in temperature) - MATCH_WINDOW
    latest = max(a.started_at for a in temperature) + MATCH_WINDOW
    candidates = list(
        Excursion.objects.filter(
            channel__device_id__in={a.device_id for a in temperature},
            channel__quantity=Quantity.TEMPERATURE,
            kind=ExcursionKind.OUT_OF_RANGE,
            started_at__lte=latest,
        )
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=earliest))
        .select_related("channel__device", "acknowledged_by")
    )
    now = timezone.now()
    matches = {}
    for alert in temperature:
        near = [
            e
            for e in candidates
            if e.channel.device_id == alert.device_id
            and e.started_at - MATCH_WINDOW <= alert.started_at <= (e.ended_at or now) + MATCH_WINDOW
        ]
        if near:
            matches[alert.pk] = min(near, key=lambda e: abs(e.started_at - alert.started_at))
    return matches


def matching_vendor_alerts(excursion: Excursion) -> list[VendorAlert]:
    """The vendors' temperature alarms not yet acknowledged that ``excursion`` matches: what its signed
    acknowledgement covers too."""
    return vendor_alerts_by_excursion([excursion]).get(excursion.pk, [])


def vendor_alerts_by_excursion(excursions: list[Excursion]) -> dict[int, list[VendorAlert]]:
    """For each temperature excursion of ``excursions``, the vendors' temperature alarms not yet
    acknowledged of the same event, oldest first; in two queries. An alarm nearer to another excursion of
    its device (another channel's) belongs to that one."""
    wanted = [
        e
        for e in excursions
        if e.kind == ExcursionKind.OUT_OF_RANGE and e.channel.quantity == Quantity.TEMPERATURE
    ]
    if not wanted:
        return {}
    now = timezone.now()
    # One span per excursion, passed as arrays: a Q() of fifty OR-ed spans cost more to build than the
    # query takes to run.
    spans = RawSQL(
        "EXISTS (SELECT 1 FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[])"
        " AS s(device, low, high) WHERE s.device = monitoring_vendoralert.device_id"
        " AND monitoring_vendoralert.started_at BETWEEN s.low AND s.high)",
        (
            [e.channel.device_id for e in wanted],
            [e.started_at - MATCH_WINDOW for e in wanted],
            [(e.ended_at or now) + MATCH_WINDOW for e in wanted],
        ),
        output_field=BooleanField(),
    )
    found_alerts = VendorAlert.objects.filter(
        spans, device_id__in={e.channel.device_id for e in wanted}, acknowledged_at__isnull=True
    )
    candidates = [
        a
        for a in found_alerts.order_by("started_at", "pk")
        if event_kind(a.alert_type, a.message) == EventKind.TEMPERATURE
    ]
    matches = matching_excursions(candidates)
    found: dict[int, list[VendorAlert]] = {}
    for alert in candidates:
        excursion = matches.get(alert.pk)
        if excursion is not None:
            found.setdefault(excursion.pk, []).append(alert)
    return found


def alert_devices() -> list[tuple[int, str]]:
    """(id, name) of every device, for the filters' choice: plain rows, not 1,000 model instances."""
    return list(Device.objects.order_by("name", "pk").values_list("pk", "name"))


def alert_accounts() -> QuerySet[VendorAccount]:
    return VendorAccount.objects.only("pk", "name", "vendor").order_by("name", "pk")


def inbox_counts() -> dict[str, int]:
    """The figures on the tabs: excursions to acknowledge or close, vendor events to acknowledge."""
    return {
        "excursions": Excursion.objects.exclude(state__in=DONE_STATES).count(),
        "vendor": VendorAlert.objects.filter(acknowledged_at__isnull=True).count(),
    }
