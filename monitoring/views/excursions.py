"""Excursion pages: the detail with its signatures and audit trail, acknowledge and close (electronic
signatures). The excursion report: ``monitoring.views.reports``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from coldchain.security import lockout_response
from monitoring import excursion_actions
from monitoring.models import AuditRecord, Excursion
from monitoring.models.excursions import Disposition
from monitoring.signatures import SignatureLockedOut


def _get_excursion(pk: int) -> Excursion:
    queryset = Excursion.objects.select_related(
        "channel__device__group", "rule", "acknowledged_by", "closed_by"
    ).prefetch_related("signatures")
    return get_object_or_404(queryset, pk=pk)


def _render_detail(request, excursion: Excursion, status: int = 200):
    trail = AuditRecord.objects.filter(model="monitoring.excursion", object_id=str(excursion.pk)).order_by(
        "at"
    )
    context = {"excursion": excursion, "trail": trail, "dispositions": Disposition.choices}
    return render(request, "monitoring/excursion_detail.html", context, status=status)


@require_GET
@permission_required("monitoring.view_excursion", raise_exception=True)
def excursion_detail(request, pk: int):
    return _render_detail(request, _get_excursion(pk))


@require_POST
@permission_required("monitoring.acknowledge_excursion", raise_exception=True)
def excursion_acknowledge(request, pk: int):
    excursion = _get_excursion(pk)
    try:
        excursion_actions.excursion_acknowledge(
            excursion,
            request.user,
            request.POST.get("comment", ""),
            request.POST.get("password", ""),
            request=request,
        )
    except SignatureLockedOut:
        return lockout_response(request)
    except ValidationError as exc:
        return _refused(request, excursion, exc, "acknowledge-form")
    messages.success(request, "Excursion acknowledged and signed.")
    return _to_detail(request, pk)


@require_POST
@permission_required("monitoring.close_excursion", raise_exception=True)
def excursion_close(request, pk: int):
    excursion = _get_excursion(pk)
    try:
        excursion_actions.excursion_close(
            excursion,
            request.user,
            request.POST.get("disposition", ""),
            request.POST.get("root_cause", ""),
            request.POST.get("password", ""),
            request=request,
        )
    except SignatureLockedOut:
        return lockout_response(request)
    except ValidationError as exc:
        return _refused(request, excursion, exc, "close-form")
    messages.success(request, "Excursion closed and signed.")
    return _to_detail(request, pk)


def _refused(request, excursion: Excursion, exc: ValidationError, form: str):
    """A refused signature or missing field: by htmx, the form again with the reason inside it and what
    was typed (never the password); the page and the rest of it stay as they were."""
    if not request.htmx:
        messages.error(request, " ".join(exc.messages))
        return _render_detail(request, excursion, status=400)
    context = {
        "excursion": excursion,
        "dispositions": Disposition.choices,
        "form_error": " ".join(exc.messages),
        "posted": {name: request.POST.get(name, "") for name in ("comment", "disposition", "root_cause")},
    }
    return render(request, f"monitoring/excursion_detail.html#{form}", context, status=400)


def _to_detail(request, pk: int):
    if request.htmx:
        return HttpResponseClientRedirect(reverse("excursion_detail", args=[pk]))
    return redirect("excursion_detail", pk=pk)
