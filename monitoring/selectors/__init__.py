"""Read-side queries for the pages, one module per thing selected; a constant number of queries per page,
whatever the number of devices.

- ``status``: each device's state, the overview and the groups;
- ``series``: a device's readings, gaps and excursions, and the chart series;
- ``tracks``: vehicles and their tracks;
- ``alerts``: the alerts list;
- ``accounts``: vendor accounts and their syncs.
"""

from monitoring.selectors.accounts import account_progress, accounts_with_counts
from monitoring.selectors.alerts import (
    ALERT_LIMIT,
    AlertFilters,
    AlertRow,
    alert_devices,
    alert_rows,
    excursion_row,
    vendor_alert_row,
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
    device_status,
    devices_for_groups,
    groups_with_counts,
    overview,
)
from monitoring.selectors.tracks import TrackPoint, track, vehicle_alerts, vehicles

__all__ = [
    "ALERT_LIMIT",
    "STATUSES",
    "STATUS_CHOICES",
    "AlertFilters",
    "AlertRow",
    "Overview",
    "OverviewFilters",
    "Series",
    "Status",
    "TrackPoint",
    "account_progress",
    "accounts_with_counts",
    "alert_devices",
    "alert_rows",
    "all_groups",
    "channel_series",
    "device_detail",
    "device_status",
    "devices_for_groups",
    "excursion_row",
    "excursions_between",
    "gaps_between",
    "groups_with_counts",
    "installation_history",
    "latest_readings",
    "overview",
    "track",
    "vehicle_alerts",
    "vehicles",
    "vendor_alert_row",
]
