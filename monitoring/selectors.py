"""Read-side queries for the pages: a constant number of queries, whatever the number of devices."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet

from monitoring.models import Channel, DeploymentGroup, Device, VendorAlert
from vendors.models import VendorAccount


def devices_with_channels() -> QuerySet[Device]:
    return (
        Device.objects.select_related("account", "group")
        .prefetch_related(Prefetch("channels", queryset=Channel.objects.order_by("quantity", "name")))
        .exclude(installation_status="retired")
        .order_by("name")
    )


def recent_alerts(limit: int = 200) -> QuerySet[VendorAlert]:
    return VendorAlert.objects.select_related("device", "account", "acknowledged_by").order_by("-started_at")[
        :limit
    ]


def groups_with_counts() -> QuerySet[DeploymentGroup]:
    return DeploymentGroup.objects.select_related("account").annotate(
        device_count=Count("devices", filter=~Q(devices__installation_status="retired"))
    )


def accounts_with_counts() -> QuerySet[VendorAccount]:
    return VendorAccount.objects.annotate(device_count=Count("devices")).order_by("name")
