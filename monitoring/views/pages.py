"""The QA pages: thin function views over ``selectors``; HTMX swaps the fragments."""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET

from monitoring import selectors


@require_GET
def overview(request):
    return render(request, "monitoring/overview.html", {"devices": selectors.devices_with_channels()})


@require_GET
def devices(request):
    return render(request, "monitoring/devices.html", {"devices": selectors.devices_with_channels()})


@require_GET
def vehicle_map(request):
    vehicles = selectors.devices_with_channels().filter(kind="vehicle")
    return render(request, "monitoring/map.html", {"vehicles": vehicles})


@require_GET
def alerts(request):
    return render(request, "monitoring/alerts.html", {"alerts": selectors.recent_alerts()})


@require_GET
def groups(request):
    return render(request, "monitoring/groups.html", {"groups": selectors.groups_with_counts()})


@require_GET
def sync_status(request):
    return render(request, "monitoring/sync_status.html", {"accounts": selectors.accounts_with_counts()})
