"""Read-side queries for the pages, one module per thing selected; a constant number of queries per page,
whatever the number of devices.

- ``status``: each device's state, the overview and the groups;
- ``series``: a device's readings, gaps and excursions, and the chart series;
- ``tracks``: vehicles and their tracks;
- ``alerts``: the Alerts inbox (excursions; vendor events grouped by device and kind);
- ``accounts``: vendor accounts and their syncs.
"""

from monitoring.selectors.accounts import account_progress, accounts_with_counts
from monitoring.selectors.alerts import (
    CLOSED_LIMIT,
    DONE_STATES,
    GROUP_EVENTS_LIMIT,
    AlertFilters,
    AlertRow,
    VendorEventFilters,
    VendorEventGroup,
    alert_accounts,
    alert_devices,
    closed_excursions,
    excursion_row,
    excursions_needing_attention,
    group_events,
    group_queryset,
    inbox_counts,
    matching_excursions,
    matching_vendor_alerts,
    vendor_alert_row,
    vendor_event_groups,
)
from monitoring.selectors.series import (
    Series,
    channel_series,
    device_detail,
    excursions_between,
    gaps_between,
    installation_history,
    latest_readings,
)
from monitoring.selectors.status import (
    STATUS_CHOICES,
    STATUSES,
    Overview,
    OverviewFilters,
    Status,
    all_groups,
    devices_for_groups,
    groups_with_counts,
    overview,
)
from monitoring.selectors.tracks import (
    AlertOnMap,
    TrackPoint,
    alerts_on_map,
    temperature_channel,
    track,
    vehicle_alerts,
    vehicles,
)

__all__ = [
    "CLOSED_LIMIT",
    "DONE_STATES",
    "GROUP_EVENTS_LIMIT",
    "STATUSES",
    "STATUS_CHOICES",
    "AlertFilters",
    "AlertOnMap",
    "AlertRow",
    "Overview",
    "OverviewFilters",
    "Series",
    "Status",
    "TrackPoint",
    "VendorEventFilters",
    "VendorEventGroup",
    "account_progress",
    "accounts_with_counts",
    "alert_accounts",
    "alert_devices",
    "alerts_on_map",
    "all_groups",
    "channel_series",
    "closed_excursions",
    "device_detail",
    "devices_for_groups",
    "excursion_row",
    "excursions_between",
    "excursions_needing_attention",
    "gaps_between",
    "group_events",
    "group_queryset",
    "groups_with_counts",
    "inbox_counts",
    "installation_history",
    "latest_readings",
    "matching_excursions",
    "matching_vendor_alerts",
    "overview",
    "temperature_channel",
    "track",
    "vehicle_alerts",
    "vehicles",
    "vendor_alert_row",
    "vendor_event_groups",
]
