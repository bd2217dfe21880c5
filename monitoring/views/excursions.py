"""Excursion pages: the detail with its signatures and audit trail, acknowledge and close (electronic
signatures), and the excursion report download."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_GET, require_POST

from coldchain.security import lockout_response
from monitoring import lifecycle, reports
from monitoring.models import AuditRecord, DeploymentGroup, Excursion
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
        lifecycle.excursion_acknowledge(
            excursion,
            request.user,
            request.POST.get("comment", ""),
            request.POST.get("password", ""),
            request=request,
        )
    except SignatureLockedOut:
        return lockout_response(request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _render_detail(request, excursion, status=400)
    messages.success(request, "Excursion acknowledged and signed.")
    return redirect("excursion_detail", pk=pk)


@require_POST
@permission_required("monitoring.close_excursion", raise_exception=True)
def excursion_close(request, pk: int):
    excursion = _get_excursion(pk)
    try:
        lifecycle.excursion_close(
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
        messages.error(request, " ".join(exc.messages))
        return _render_detail(request, excursion, status=400)
    messages.success(request, "Excursion closed and signed.")
    return redirect("excursion_detail", pk=pk)


def parse_moment(text: str | None) -> datetime | None:
    """An ISO date or date-time; a naive one is read in UTC."""
    if not text:
        return None
    try:  # well-formed but impossible (2026-13-40) raises ValueError
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            if day is None:
                return None
            moment = datetime.combine(day, datetime.min.time())
    except ValueError:
        return None
    if not 2000 <= moment.year <= 2100:
        return None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


@require_GET
@permission_required("monitoring.view_excursion", raise_exception=True)
def excursion_report_download(request):
    """``?start=ISO&end=ISO[&group=NAME][&format=pdf|csv]``: the excursion report of that period."""
    start, end = parse_moment(request.GET.get("start")), parse_moment(request.GET.get("end"))
    if start is None or end is None or start >= end:
        return HttpResponseBadRequest(
            "Give start and end as ISO dates between 2000 and 2100 (start before end)."
        )
    if end - start > timedelta(days=731):
        return HttpResponseBadRequest("A report covers at most two years.")
    group = None
    if request.GET.get("group"):
        group = get_object_or_404(DeploymentGroup, name=request.GET["group"])
    report = reports.build_report(start, end, group)
    stem = f"excursion-report-{start:%Y%m%d}-{end:%Y%m%d}"
    if request.GET.get("format") == "csv":
        response = HttpResponse(reports.render_csv(report), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{stem}-readings.csv"'
        return response
    response = HttpResponse(reports.render_pdf(report), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{stem}.pdf"'
    return response
