"""Vendor alerts and our excursions in one list; acknowledge in place with a required comment."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from coldchain.security import lockout_response
from monitoring import excursion_actions, selectors
from monitoring.forms import AcknowledgeForm, AlertFilterForm, SignedAcknowledgeForm
from monitoring.models import Excursion, VendorAlert
from monitoring.signatures import SignatureLockedOut, user_name_required
from monitoring.views.common import form_errors, page_or_fragment, problem

PERMISSIONS = {
    "vendor": "monitoring.acknowledge_vendoralert",
    "excursion": "monitoring.acknowledge_excursion",
}


@require_GET
def alerts(request):
    form = AlertFilterForm(request.GET or None, devices=selectors.alert_devices())
    if form.is_bound and not form.is_valid():
        return problem(request, form_errors(form))
    filters = form.filters() if form.is_bound else selectors.AlertFilters()
    rows = selectors.alert_rows(filters)
    context = {
        "rows": rows,
        "form": form,
        "limit": selectors.ALERT_LIMIT,
        "username_required": user_name_required(request, request.user),
    }
    return render(request, page_or_fragment(request, "monitoring/alerts.html", "alert-list"), context)


def _row(source: str, pk: int) -> selectors.AlertRow:
    if source == "vendor":
        alert = get_object_or_404(VendorAlert.objects.select_related("device", "acknowledged_by"), pk=pk)
        return selectors.vendor_alert_row(alert)
    excursion = get_object_or_404(
        Excursion.objects.select_related("channel__device", "acknowledged_by"), pk=pk
    )
    return selectors.excursion_row(excursion)


@require_POST
def alert_acknowledge(request, source: str, pk: int):
    if source not in PERMISSIONS:
        return problem(request, "Unknown kind of alert.", status=404)
    if not request.user.has_perm(PERMISSIONS[source]):
        raise PermissionDenied
    row = _row(source, pk)
    form_class = SignedAcknowledgeForm if source == "excursion" else AcknowledgeForm
    form = form_class(request.POST)
    status = 200
    if form.is_valid():
        try:
            if source == "vendor":
                excursion_actions.vendor_alert_acknowledge(
                    row.item, request.user, form.cleaned_data["comment"]
                )
            else:
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
            form = None
    else:
        status = 400
    if not request.htmx:
        # Without JavaScript: back to the list, with the outcome as a message.
        if status != 200:
            return problem(request, form_errors(form) or "Not acknowledged.")
        messages.success(request, "Acknowledged.")
        return redirect(f"{reverse('alerts')}#{row.key}")
    return render(
        request,
        "monitoring/alerts.html#alert-row",
        {
            "row": row,
            "ack_form": form,
            "open": True,
            "username_required": user_name_required(request, request.user),
        },
        status=status,
    )
