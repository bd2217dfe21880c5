"""Device-health alarms are listed on the Alerts page ("Device health" tab, ``monitoring.views.alerts``);
here: the old address of their page, and their acknowledgement with a required comment (answering in
place for htmx, else back to the tab with a message)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from alarms.health import health_alarm_acknowledge, health_alarm_with_subject, open_health_alarms


def health_tab_url(alarm_id: int | None = None) -> str:
    anchor = f"#health-{alarm_id}" if alarm_id else ""
    return f"{reverse('alerts')}?tab=health{anchor}"


@require_GET
@permission_required("alarms.view_healthalarm", raise_exception=True)
def device_health(request):
    """The page that was: links in emails sent before the tab existed lead to the tab."""
    return redirect(health_tab_url())


@require_POST
@permission_required("alarms.acknowledge_healthalarm", raise_exception=True)
def device_health_acknowledge(request, pk: int):
    alarm = health_alarm_with_subject(pk)
    if alarm is None:
        raise Http404
    error, status = "", 200
    try:
        alarm = health_alarm_acknowledge(alarm, request.user, request.POST.get("comment", ""))
    except ValidationError as refused:
        error, status = " ".join(refused.messages), 400
    if request.htmx:
        alarm = health_alarm_with_subject(pk)
        context = {
            "alarm": alarm,
            "error": error,
            "comment": request.POST.get("comment", ""),
            "open_count": open_health_alarms(),  # the tab's figure, swapped out of band
        }
        return render(request, "alarms/_health_alarm_answer.html", context, status=status)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{alarm} acknowledged.")
    return redirect(health_tab_url(pk))


@require_GET
@permission_required("alarms.view_calibrationcertificate", raise_exception=True)
def calibration_certificate_file(request, pk: int):
    """The certificate's PDF, behind the login (uploaded files are never served by their URL)."""
    from django.http import FileResponse

    from alarms.models import CalibrationCertificate

    certificate = get_object_or_404(CalibrationCertificate, pk=pk)
    name = f"calibration-{certificate.certificate_number}.pdf".replace("/", "-")
    return FileResponse(certificate.file.open("rb"), content_type="application/pdf", filename=name)
