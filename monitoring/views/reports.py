"""The excursion report on the pages: ask for one, watch it being built (htmx polling), fetch the file.

The web request never builds the report: a Celery worker does (``monitoring.report_files``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseStopPolling

from monitoring import report_files
from monitoring.audit import record_export
from monitoring.choices import ReportState
from monitoring.forms import ReportRequestForm
from monitoring.models import ExcursionReportFile

VIEW = "monitoring.view_excursion"


def _report(request, pk: int) -> ExcursionReportFile:
    """The report, if this user may see it: to anybody else it does not exist."""
    report = get_object_or_404(ExcursionReportFile.objects.select_related("group").defer("content"), pk=pk)
    if not report_files.may_fetch(request.user, report):
        raise Http404("No such report.")
    return report


@require_http_methods(["GET", "POST"])
@permission_required(VIEW, raise_exception=True)
def excursion_report(request):
    """GET: the form (filled from ``?start=&end=&group=&format=``) and the user's recent reports.
    POST: queue the report and go to its page."""
    status = 200
    if request.method == "POST":
        # From the Alerts page's form (htmx): the answer replaces that form, with its errors or the
        # progress of the report it started.
        form = ReportRequestForm(request.POST, auto_id="report-%s" if request.htmx else "id_%s")
        if form.is_valid():
            data = form.cleaned_data
            try:
                report = report_files.request_report(
                    request.user, data["start"], data["end"], data["group"], data["format"]
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                if request.htmx:
                    context = {"form": form, "report": report}
                    return render(request, "monitoring/alerts.html#report-form", context)
                return redirect("excursion_report_status", pk=report.pk)
        status = 400
        if request.htmx:
            return render(request, "monitoring/alerts.html#report-form", {"form": form}, status=status)
    else:
        form = ReportRequestForm(initial=request.GET.dict())
    context = {
        "form": form,
        "reports": report_files.recent_reports(request.user),
        "limit": settings.EXCURSION_REPORT_MAX_EXCURSIONS,
    }
    return render(request, "monitoring/excursion_report.html", context, status=status)


@require_GET
@permission_required(VIEW, raise_exception=True)
def excursion_report_status(request, pk: int):
    """The report's page; for htmx, only its progress, until it is finished (286 stops the polling)."""
    report = _report(request, pk)
    if not request.htmx:
        return render(request, "monitoring/excursion_report_status.html", {"report": report})
    response = render(request, "monitoring/excursion_report_status.html#report-progress", {"report": report})
    if report.finished:
        return HttpResponseStopPolling(response.content)
    return response


@require_GET
@permission_required(VIEW, raise_exception=True)
def excursion_report_file(request, pk: int):
    report = _report(request, pk)
    if report.state != ReportState.DONE:
        raise Http404("This report is not ready.")
    content = ExcursionReportFile.objects.values_list("content", flat=True).get(pk=report.pk)
    record_export(
        request.user,
        "excursion report",
        report,
        start=report.start,
        end=report.end,
        file_format=report.format,
    )
    response = HttpResponse(bytes(content), content_type=report.content_type)
    response["Content-Disposition"] = f'attachment; filename="{report.filename}"'
    return response
