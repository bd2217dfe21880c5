"""The Alerts inbox: our excursions on one tab, the vendors' events (grouped by device and kind) on the
second, device-health alarms (``alarms.health``: low battery, lasting sensor error, no data, failing sync)
on the third; acknowledge in place with a required comment (and a signature for an excursion), vendor events
that are not about the product in bulk; the excursion report asked for from here."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Max
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alarms.health import health_inbox, open_health_alarms
from coldchain.security import lockout_response
from monitoring import excursion_actions, selectors
from monitoring.choices import ExcursionState
from monitoring.forms import (
    AcknowledgeForm,
    AlertFilterForm,
    BulkAcknowledgeForm,
    ReportRequestForm,
    SignedAcknowledgeForm,
    VendorEventFilterForm,
)
from monitoring.models import Excursion, VendorAlert
from monitoring.selectors.status import url_for_each
from monitoring.signatures import SignatureLockedOut, user_name_required
from monitoring.views.common import form_errors, page_or_fragment, problem

PERMISSIONS = {
    "vendor": "monitoring.acknowledge_vendoralert",
    "excursion": "monitoring.acknowledge_excursion",
}
TABS = ("excursions", "vendor", "health")
VIEW_HEALTH = "alarms.view_healthalarm"


def report_form() -> ReportRequestForm:
    """The report form of the Alerts page: the last seven days (UTC, today included), all groups."""
    today = timezone.now().date()
    return ReportRequestForm(
        initial={
            "start": (today - timedelta(days=7)).isoformat(),
            "end": (today + timedelta(days=1)).isoformat(),
        },
        auto_id="report-%s",
    )


def inbox_counts(request) -> dict[str, int]:
    """The figures on the tabs; device health only for those who may see it."""
    counts = selectors.inbox_counts()
    if request.user.has_perm(VIEW_HEALTH):
        counts["health"] = open_health_alarms()
    return counts


def _filters_query(request) -> str:
    """The filters of the page, to keep them in links and posts."""
    query = request.GET.copy()
    for name in ("group", "tab", "page", "closed"):
        query.pop(name, None)
    return query.urlencode()


@require_GET
def alerts(request):
    tab = request.GET.get("tab") or "excursions"
    if tab not in TABS:
        return problem(request, "Unknown tab.")
    context = {"tab": tab, "query": _filters_query(request), "page_size": selectors.ATTENTION_PAGE}
    if tab == "vendor":
        return _vendor_tab(request, context)
    if tab == "health":
        return _health_tab(request, context)
    form = AlertFilterForm(request.GET or None, devices=selectors.alert_devices())
    if form.is_bound and not form.is_valid():
        return problem(request, form_errors(form))
    filters = form.filters() if form.is_bound else selectors.AlertFilters()
    page, closed_page = _page_number(request, "page"), _page_number(request, "closed")
    if page is None or closed_page is None:
        return problem(request, "Unknown page.")
    # "Show more" of either list: the next page's rows, added below those shown.
    if _more_of(request, "closed-rows"):
        context.update(_closed_page(request, filters, closed_page))
        return render(request, "monitoring/alerts.html#closed-page", context)
    context.update(_attention_page(request, filters, page))
    if _more_of(request, "attention-rows"):
        return render(request, "monitoring/alerts.html#attention-page", context)
    context.update(_closed_page(request, filters, closed_page))
    context.update(
        form=form,
        state=filters.state,
        filtered=filters != selectors.AlertFilters(),  # not the tab's name alone in the query
        done=filters.state in selectors.DONE_STATES,
        username_required=user_name_required(request, request.user),
    )
    if not request.htmx or request.htmx.boosted:
        context.update(counts=inbox_counts(request), report_form=report_form())
    return render(request, page_or_fragment(request, "monitoring/alerts.html", "excursion-list"), context)


def _page_number(request, name: str) -> int | None:
    """The page of a list asked for (1 when none); None when it is no page number."""
    page = request.GET.get(name) or "1"
    if not page.isdigit() or not 1 <= int(page) <= 100_000:
        return None
    return int(page)


def _more_of(request, rows_id: str) -> bool:
    """An htmx "show more" of the list whose rows are ``rows_id``."""
    return bool(request.htmx and not request.htmx.boosted and request.htmx.target == rows_id)


def _attention_page(request, filters: selectors.AlertFilters, page: int) -> dict:
    """The excursions to handle up to ``page`` (a page at a time by htmx: only that page's rows; without
    JavaScript, "show more" is a link and the page lists every row up to it) and the next page's link."""
    size = selectors.ATTENTION_PAGE
    offset = (page - 1) * size if _more_of(request, "attention-rows") else 0
    rows = selectors.excursions_needing_attention(filters, offset=offset, limit=page * size - offset)
    total = selectors.count_needing_attention(filters)
    return _paged(request, "attention", "page", rows, total, page, size)


def _closed_page(request, filters: selectors.AlertFilters, page: int) -> dict:
    """The closed excursions up to ``page``, as ``_attention_page`` does the excursions to handle."""
    size = selectors.CLOSED_PAGE
    offset = (page - 1) * size if _more_of(request, "closed-rows") else 0
    rows = selectors.closed_excursions(filters, offset=offset, limit=page * size - offset)
    total = selectors.count_closed(filters)
    return _paged(request, "closed", "closed", rows, total, page, size)


def _paged(request, name: str, parameter: str, rows: list, total: int, page: int, size: int) -> dict:
    """A list's rows with their links, how many in all and shown, and the query of its next page."""
    shown = min(page * size, total)
    following = request.GET.copy()
    following[parameter] = str(page + 1)
    following.pop("tab", None)
    return {
        name: _with_links(rows),
        f"{name}_total": total,
        f"{name}_shown": shown,
        f"{name}_next": min(size, total - shown),
        f"{name}_more_query": following.urlencode(),
    }


def _vendor_tab(request, context: dict, bulk_form=None, status: int = 200):
    form = VendorEventFilterForm(
        request.GET or None, accounts=selectors.alert_accounts(), devices=selectors.alert_devices()
    )
    if form.is_bound and not form.is_valid():
        return problem(request, form_errors(form))
    filters = form.filters() if form.is_bound else selectors.VendorEventFilters()
    key = request.GET.get("group", "")
    if key and request.htmx and not request.htmx.boosted:
        rows, total = selectors.group_events(filters, key)
        context.update(rows=rows, total=total, limit=selectors.GROUP_EVENTS_LIMIT)
        return render(request, "monitoring/alerts.html#group-events", context)
    groups = selectors.vendor_event_groups(filters)
    for group in groups:
        if group.key == key:  # without JavaScript: the group asked for, open with its events
            group.rows, group.total = selectors.group_events(filters, key)
    context.update(
        form=form,
        groups=groups,
        events=sum(g.count for g in groups),
        open_group=key,
        limit=selectors.GROUP_EVENTS_LIMIT,
        bulk_form=bulk_form,
        seen_up_to=VendorAlert.objects.aggregate(top=Max("pk"))["top"] or 0,
    )
    if not request.htmx or request.htmx.boosted:
        context.update(counts=inbox_counts(request), report_form=report_form())
    template = page_or_fragment(request, "monitoring/alerts.html", "vendor-list")
    return render(request, template, context, status=status)


def _health_tab(request, context: dict):
    """Device-health alarms, open first; each acknowledged in place (``alarms.views``)."""
    if not request.user.has_perm(VIEW_HEALTH):
        raise PermissionDenied
    open_alarms, acknowledged = health_inbox()
    context.update(
        open_alarms=open_alarms,
        acknowledged=acknowledged,
        counts=inbox_counts(request),
        report_form=report_form(),
    )
    return render(request, "monitoring/alerts.html", context)


@require_POST
def vendor_events_acknowledge(request):
    """Acknowledge the chosen groups of vendor events (not about the product) with one comment; the
    filters of the page (in the query string) say which of each group's events."""
    if not request.user.has_perm(PERMISSIONS["vendor"]):
        raise PermissionDenied
    form = BulkAcknowledgeForm(request.POST)
    status = 200
    if form.is_valid():
        filters_form = VendorEventFilterForm(
            request.GET or None, accounts=selectors.alert_accounts(), devices=selectors.alert_devices()
        )
        if filters_form.is_bound and not filters_form.is_valid():
            return problem(request, form_errors(filters_form))
        filters = filters_form.filters() if filters_form.is_bound else selectors.VendorEventFilters()
        alerts = []
        for key in form.cleaned_data["group"]:
            alerts += selectors.group_queryset(filters, key).filter(pk__lte=form.cleaned_data["seen_up_to"])
        try:
            count = excursion_actions.vendor_alerts_acknowledge(
                alerts, request.user, form.cleaned_data["comment"]
            )
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
            status = 400
        else:
            messages.success(request, f"{count} event{'s' if count != 1 else ''} acknowledged.")
            form = None
    else:
        status = 400
    if not request.htmx:
        if status != 200:
            return problem(request, form_errors(form))
        return redirect(f"{reverse('alerts')}?tab=vendor&{_filters_query(request)}")
    context = {"tab": "vendor", "query": _filters_query(request)}
    return _vendor_tab(request, context, bulk_form=form, status=status)


def _row(source: str, pk: int) -> selectors.AlertRow:
    if source == "vendor":
        alert = get_object_or_404(
            VendorAlert.objects.select_related("device", "account", "acknowledged_by"), pk=pk
        )
        return selectors.vendor_alert_row(alert, selectors.matching_excursions([alert]).get(alert.pk))
    excursion = get_object_or_404(
        Excursion.objects.select_related("channel__device", "acknowledged_by"), pk=pk
    )
    row = selectors.excursion_row(excursion)
    row.vendor_alarms = selectors.matching_vendor_alerts(excursion)
    return _with_links([row])[0]


def _with_links(rows: list[selectors.AlertRow]) -> list[selectors.AlertRow]:
    """Each excursion row's links, from URLs reversed once for the page (three reversals a row were a
    tenth of the page's time)."""
    device = url_for_each("device_detail")
    detail = url_for_each("excursion_detail")
    acknowledge = url_for_each("alert_acknowledge", "excursion")
    for row in rows:
        if row.device is not None:
            row.device_url = device(row.device.pk)
        row.detail_url = detail(row.item.pk)
        row.acknowledge_url = acknowledge(row.item.pk)
    return rows


def _acknowledge_form(request, source: str, pk: int):
    """An excursion's signature form, fetched when its "Acknowledge" opens in the list (htmx); without
    JavaScript, or for a vendor event (whose form is in its row), the page that has the form."""
    if source != "excursion" or not request.htmx:
        if source == "excursion":
            return redirect(f"{reverse('excursion_detail', args=[pk])}#excursion-actions")
        return redirect(f"{reverse('alerts')}?tab=vendor")
    row = _row(source, pk)
    if row.state != ExcursionState.OPEN:
        # Someone acknowledged it since the list was drawn: say so, by whom, instead of a form.
        return render(request, "monitoring/alerts.html#no-longer-open", {"row": row})
    context = {
        "row": row,
        "focus": True,
        "username_required": user_name_required(request, request.user),
    }
    return render(request, "monitoring/alerts.html#ack-form", context)


@require_http_methods(["GET", "POST"])
def alert_acknowledge(request, source: str, pk: int):
    if source not in PERMISSIONS:
        return problem(request, "Unknown kind of alert.", status=404)
    if not request.user.has_perm(PERMISSIONS[source]):
        raise PermissionDenied
    if request.method == "GET":
        return _acknowledge_form(request, source, pk)
    row = _row(source, pk)
    form_class = SignedAcknowledgeForm if source == "excursion" else AcknowledgeForm
    form = form_class(request.POST)
    status, covered = 200, 0
    if form.is_valid():
        try:
            if source == "vendor":
                excursion_actions.vendor_alert_acknowledge(
                    row.item, request.user, form.cleaned_data["comment"]
                )
            else:
                covered = len(row.vendor_alarms)
                excursion_actions.excursion_acknowledge(
                    row.item,
                    request.user,
                    form.cleaned_data["comment"],
                    form.cleaned_data["password"],
                    request=request,
                    username=form.cleaned_data["username"],
                )
        except SignatureLockedOut:
            return lockout_response(request)
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
            status = 400
        else:
            row = _row(source, pk)
            if source == "excursion" and covered:
                row.covered = covered
            form = None
    else:
        status = 400
    if not request.htmx:
        # Without JavaScript: back to the list, with the outcome as a message.
        if status != 200:
            return problem(request, form_errors(form) or "Not acknowledged.")
        messages.success(request, "Acknowledged.")
        if source == "excursion":  # its own page: in the paged list it may be past the first fifty
            return redirect("excursion_detail", pk)
        return redirect(f"{reverse('alerts')}?tab=vendor#{row.key}")
    template = (
        "monitoring/alerts.html#alert-row" if source == "excursion" else "monitoring/alerts.html#event-row"
    )
    context = {
        "row": row,
        "ack_form": form,
        "open": True,
        "username_required": user_name_required(request, request.user),
    }
    return render(request, template, context, status=status)
