"""The "Device health" page: device-health alarms, open first; acknowledge with a required comment."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from alarms.health import health_alarm_acknowledge
from alarms.models import HealthAlarm, HealthState


@require_GET
@permission_required("alarms.view_healthalarm", raise_exception=True)
def device_health(request):
    alarms = HealthAlarm.objects.select_related("device", "channel__device", "account", "acknowledged_by")
    context = {
        "open_alarms": list(alarms.filter(state=HealthState.OPEN).order_by("-opened_at")),
        "acknowledged": list(alarms.filter(state=HealthState.ACKNOWLEDGED).order_by("-acknowledged_at")[:50]),
    }
    return render(request, "alarms/device_health.html", context)


@require_POST
@permission_required("alarms.acknowledge_healthalarm", raise_exception=True)
def device_health_acknowledge(request, pk: int):
    alarm = get_object_or_404(HealthAlarm, pk=pk)
    try:
        health_alarm_acknowledge(alarm, request.user, request.POST.get("comment", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{alarm} acknowledged.")
    return redirect("device_health")


@require_GET
@permission_required("alarms.view_calibrationcertificate", raise_exception=True)
def calibration_certificate_file(request, pk: int):
    """The certificate's PDF, behind the login (uploaded files are never served by their URL)."""
    from django.http import FileResponse

    from alarms.models import CalibrationCertificate

    certificate = get_object_or_404(CalibrationCertificate, pk=pk)
    name = f"calibration-{certificate.certificate_number}.pdf".replace("/", "-")
    return FileResponse(certificate.file.open("rb"), content_type="application/pdf", filename=name)
