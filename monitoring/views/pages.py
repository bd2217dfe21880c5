"""The overview, the device list and the time-zone preference."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods

from monitoring import selectors
from monitoring.choices import InstallationStatus
from monitoring.forms import OverviewFilterForm, TimeZoneForm
from monitoring.user_time_zone import TIME_ZONE_COOKIE
from monitoring.views.common import form_errors, page_or_fragment, problem


@require_GET
def overview(request):
    groups = list(selectors.all_groups())
    form = OverviewFilterForm(request.GET or None, groups=groups)
    if form.is_bound and not form.is_valid():
        return problem(request, form_errors(form))
    filters = form.filters() if form.is_bound else selectors.OverviewFilters()
    page = (form.cleaned_data.get("page") if form.is_bound else None) or 1
    overview = selectors.overview(filters, page)
    context = {
        "overview": overview,
        "devices": overview.page.object_list,
        "status": filters.status,
        "status_label": selectors.STATUSES[filters.status].summary if filters.status else "",
        "form": form,
        "filtered": filters != selectors.OverviewFilters(),
    }
    return render(request, page_or_fragment(request, "monitoring/overview.html", "device-list"), context)


@require_GET
def devices(request):
    """Every device with its installation status (retired ones too) and group."""
    rows = selectors.devices_for_groups()
    status = request.GET.get("status", "")
    if status and status not in InstallationStatus.values:
        return problem(request, f"{status!r} is not an installation status.")
    if status:
        rows = rows.filter(installation_status=status)
    context = {"devices": rows, "status": status, "statuses": InstallationStatus.choices}
    return render(request, "monitoring/devices.html", context)


@require_http_methods(["GET", "POST"])
def time_zone(request):
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = ""
    if request.method == "POST":
        form = TimeZoneForm(request.POST)
        if form.is_valid():
            response = redirect(next_url or "overview")
            response.set_cookie(
                TIME_ZONE_COOKIE, form.cleaned_data["timezone"], max_age=365 * 86400, samesite="Lax"
            )
            return response
        return render(request, "monitoring/time_zone.html", {"form": form, "next": next_url}, status=400)
    form = TimeZoneForm(initial={"timezone": timezone.get_current_timezone_name()})
    return render(request, "monitoring/time_zone.html", {"form": form, "next": next_url})
