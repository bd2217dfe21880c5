"""The overview, the device list and the time-zone preference."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.db.models import Max
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods
from multidb.pinning import this_thread_is_pinned

from monitoring import selectors
from monitoring.choices import InstallationStatus
from monitoring.forms import OverviewFilterForm, TimeZoneForm
from monitoring.user_time_zone import TIME_ZONE_COOKIE
from monitoring.views.common import form_errors, problem


@require_GET
def overview(request):
    groups = list(selectors.all_groups())
    form = OverviewFilterForm(request.GET or None, groups=groups)
    if form.is_bound and not form.is_valid():
        return problem(request, form_errors(form))
    filters = form.filters() if form.is_bound else selectors.OverviewFilters()
    page = (form.cleaned_data.get("page") if form.is_bound else None) or 1
    device_list = _device_list(request, filters, page)
    if request.htmx and not request.htmx.boosted:
        return HttpResponse(device_list)
    return render(request, "monitoring/overview.html", {"form": form, "device_list": device_list})


def _device_list(request, filters: selectors.OverviewFilters, page: int) -> str:
    """The overview's list (summary strip, cards, pager), the same for every user of one time zone:
    cached for ``OVERVIEW_CACHE_SECONDS`` (the page polls every minute; 50 users asking at once cost one
    computation), except for a user who has just written something (an acknowledgement, a closing)
    when a read replica is configured: that user reads the primary for a while (a cookie), and sees the
    list as it is now. Without a replica, a list may be that many seconds old after a write."""
    seconds = settings.OVERVIEW_CACHE_SECONDS
    key = None
    just_wrote = this_thread_is_pinned() or settings.MULTIDB_PINNING_COOKIE in request.COOKIES
    if seconds and not just_wrote:
        query = request.GET.copy()
        query.pop("_", None)  # htmx's cache buster, if any
        scope = f"{timezone.get_current_timezone_name()}|{query.urlencode()}"
        key = f"overview-list:{hashlib.sha256(scope.encode()).hexdigest()}"
        cached = cache.get(key)
        if cached is not None:
            return mark_safe(cached)  # noqa: S308 (our own rendering, from our cache)
    overview = selectors.overview(filters, page)
    context = {
        "overview": overview,
        "devices": overview.page.object_list,
        "status": filters.status,
        "status_label": selectors.STATUSES[filters.status].summary if filters.status else "",
        "calibration_filter": filters.calibration_overdue,
        "filtered": filters != selectors.OverviewFilters(),
    }
    html = render_to_string("monitoring/overview.html#device-list", context, request=request)
    if key:
        cache.set(key, str(html), seconds)
    return mark_safe(html)  # noqa: S308 (rendered by the template engine, escaped there)


@require_GET
def devices(request):
    """Every device with its installation status (retired ones too) and group."""
    # "Last seen" as the device page says it: the vendor's, or the newest reading if later.
    rows = selectors.devices_for_groups().annotate(last_reading=Max("channels__last_reading_at"))
    status = request.GET.get("status", "")
    if status and status not in InstallationStatus.values:
        return problem(request, f"{status!r} is not an installation status.")
    if status:
        rows = rows.filter(installation_status=status)
    search = request.GET.get("q", "").strip()[:100]
    if search:
        rows = selectors.search_devices(rows, search)
    context = {
        "devices": selectors.listed(rows),
        "status": status,
        "statuses": InstallationStatus.choices,
        "search": search,
    }
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
