"""A device: its chart over a range (swapped by htmx), latest readings, installation status, CSV export."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from alarms.calibration import corrections_for
from alarms.suppression import windows_between
from monitoring import archive, figures, selectors
from monitoring.audit import record_export
from monitoring.csv_cells import csv_lines
from monitoring.exports import READING_COLUMNS, reading_rows
from monitoring.forms import InstallationStatusForm, RangeForm
from monitoring.rules import rules_for_channels
from monitoring.views.common import form_errors, page_or_fragment, problem
from vendors.operations import OperationRefused, installation_status_set

READINGS = "monitoring_reading"


def _device(pk: int):
    device = selectors.device_detail(pk)
    if device is None:
        raise Http404("No device with this id.")
    return device


def chart_context(device, form: RangeForm) -> dict:
    start, end = form.span
    # Temperature first: it gets the first colour and the left axis.
    channels = sorted(device.channels.all(), key=lambda c: (c.quantity != "temperature", c.name))
    gaps = selectors.gaps_between(device, start, end)
    archived = archive.archives_between(READINGS, start, end)
    series = [selectors.channel_series(c, start, end, gaps, raw_available=not archived) for c in channels]
    # Where the customer opted in, the values drawn are corrected by each certificate's offset in force at
    # their time; the stored readings (and the excursions found on them) stay as they are.
    corrections = corrections_for(device, channels)
    corrected = [(s.channel, corrections.used(s)) for s in series]
    series = [corrections.apply(s) for s in series]
    rules = rules_for_channels(channels)
    excursions = selectors.excursions_between(channels, start, end)
    windows = windows_between(device, channels, start, end)
    figure = figures.device_chart(
        series,
        rules=rules,
        excursions=excursions,
        gaps=gaps,
        zone=timezone.get_current_timezone(),
        start=start,
        end=end,
        windows=windows,
    )
    figures.mark_archived(figure, archived, start=start, end=end, zone=timezone.get_current_timezone())
    return {
        "figure_json": figures.figure_json(figure),
        "archived": archive.describe(archived),
        "series": series,
        "bucketed": any(s.kind == "buckets" for s in series),
        "bucket_hours": next((int(s.bucket.total_seconds() // 3600) for s in series if s.bucket), None),
        "excursions": excursions,
        "gaps": gaps,
        "windows": windows,
        "corrected": [(channel, used) for channel, used in corrected if used],
        "rules": [(c, rules.get(c.pk)) for c in channels],
        "start": start,
        "end": end,
    }


@require_GET
def device_detail(request, pk: int):
    device = _device(pk)
    form = RangeForm(request.GET)
    context = {
        "device": device,
        "form": form,
        "range": request.GET.get("range") or ("custom" if request.GET.get("start") else "24h"),
        "presets": RangeForm.PRESET_CHOICES[:-1],
    }
    template = page_or_fragment(request, "monitoring/device_detail.html", "chart")
    if not form.is_valid():
        context["range_error"] = form_errors(form)
        return render(request, template, context, status=400)
    context.update(chart_context(device, form))
    context["query"] = request.GET.urlencode()
    if not request.htmx:
        context["latest"] = _corrected(device, selectors.latest_readings(device))
        context["latest_corrected"] = any(r.certificate for r in context["latest"])
        context["history"] = selectors.installation_history(device)
        context["installation_form"] = InstallationStatusForm(initial={"status": device.installation_status})
    return render(request, template, context)


def _corrected(device, readings: list) -> list:
    """Each reading with ``shown``: its value corrected by the certificate in force at its time (opted
    in), else the value as stored; ``certificate``: the certificate that corrected it."""
    corrections = corrections_for(device, device.channels.all())
    for reading in readings:
        certificate = corrections.certificate_at(reading.channel_id, reading.timestamp)
        reading.certificate = certificate if certificate is not None and certificate.offset else None
        reading.shown = reading.value
        if reading.value is not None and reading.certificate is not None:
            reading.shown = reading.value + reading.certificate.offset
    return readings


@require_GET
def device_readings_csv(request, pk: int):
    device = _device(pk)
    form = RangeForm(request.GET)
    if not form.is_valid():
        return problem(request, form_errors(form))
    start, end = form.span
    archived = archive.archives_between(READINGS, start, end)
    if archived:
        return problem(request, archive.refusal(archived), status=409)
    # The export's end is inclusive; the range's is not.
    rows = reading_rows(device_pk=device.pk, start=start, end=end - timedelta(microseconds=1))
    record_export(request.user, "readings", device, start=start, end=end)
    name = f"readings-{device.vendor_id}-{start:%Y%m%d%H%M}-{end:%Y%m%d%H%M}.csv"
    response = StreamingHttpResponse(csv_lines(rows, READING_COLUMNS), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_POST
@permission_required("monitoring.change_device", raise_exception=True)
def device_installation(request, pk: int):
    """Change the installation status. By htmx the answer is the installation section again: the form
    with its error (a refusal, the vendor's included) or with the change done and the history."""
    device = _device(pk)
    form = InstallationStatusForm(request.POST)
    error, status = "", 200
    if not form.is_valid():
        error, status = form_errors(form), 400
    else:
        try:
            installation_status_set(device, form.cleaned_data["status"], user=request.user)
        except OperationRefused as exc:
            error, status = str(exc), 409
    if request.htmx:
        device = _device(pk)
        context = {
            "device": device,
            "history": selectors.installation_history(device),
            "installation_form": form
            if error
            else InstallationStatusForm(initial={"status": device.installation_status}),
            "installation_error": error,
            "installation_done": ""
            if error
            else f"{device.name} is now {device.get_installation_status_display().lower()}.",
        }
        return render(request, "monitoring/device_detail.html#installation", context, status=status)
    if status == 400:
        return problem(request, error)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{device.name} is now {device.get_installation_status_display().lower()}.")
    return redirect("device_detail", pk=device.pk)
