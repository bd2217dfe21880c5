"""The map of vehicles: tracks coloured by temperature, excursions, vendor alerts; GPX export."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from monitoring import archive, figures, selectors
from monitoring.audit import record_export
from monitoring.exports import utc_stamp
from monitoring.forms import RangeForm
from monitoring.map_tiles import tile_settings
from monitoring.rules import rules_for_channels
from monitoring.views.common import form_errors, page_or_fragment, problem

POSITIONS = "monitoring_position"


def _chosen_vehicles(request, vehicles):
    chosen = request.GET.get("vehicle", "")
    if not chosen:
        return vehicles, None
    if not chosen.isdigit():
        raise Http404("No vehicle with this id.")
    picked = [v for v in vehicles if v.pk == int(chosen)]
    if not picked:
        raise Http404("No vehicle with this id.")
    return picked, picked[0]


def _temperature_rules(vehicles) -> dict:
    """{vehicle id: the rule of its temperature channel}: the map colours its track by those limits."""
    channels = {v.pk: selectors.temperature_channel(v) for v in vehicles}
    for vehicle in vehicles:
        if channels[vehicle.pk] is not None:
            channels[vehicle.pk].device = vehicle  # rules_for_channels reads the device: no query per vehicle
    rules = rules_for_channels([c for c in channels.values() if c is not None])
    return {pk: rules.get(c.pk) if c is not None else None for pk, c in channels.items()}


@require_GET
def vehicle_map(request):
    vehicles = list(selectors.vehicles())
    shown, chosen = _chosen_vehicles(request, vehicles)
    form = RangeForm({k: v for k, v in request.GET.items() if k != "vehicle"})
    context = {
        "vehicles": vehicles,
        "chosen": chosen,
        "form": form,
        "range": request.GET.get("range") or ("custom" if request.GET.get("start") else "24h"),
        "presets": RangeForm.PRESET_CHOICES[:-1],
        "range_choices": RangeForm.PRESET_CHOICES,
        "tiles": tile_settings(),
    }
    template = page_or_fragment(request, "monitoring/map.html", "map")
    if not form.is_valid():
        context["range_error"] = form_errors(form)
        return render(request, template, context, status=400)
    start, end = form.span
    tracks = {v: selectors.track(v, start, end) for v in shown}
    alerts = selectors.alerts_on_map(selectors.vehicle_alerts(shown, start, end), tracks)
    figure = figures.vehicle_map(
        tracks,
        alerts=alerts,
        vehicles=vehicles,
        zone=timezone.get_current_timezone(),
        rules=_temperature_rules(shown),
        chosen=chosen,
    )
    context.update(
        figure_json=figures.figure_json(figure),
        tracks=tracks,
        alerts=alerts,
        alerts_newest=alerts[::-1][:50],
        start=start,
        end=end,
        query=request.GET.urlencode(),
        archived=archive.describe(archive.archives_between(POSITIONS, start, end)),
    )
    return render(request, template, context)


@require_GET
def vehicle_track_gpx(request, pk: int):
    vehicle = next((v for v in selectors.vehicles() if v.pk == pk), None)
    if vehicle is None:
        raise Http404("No vehicle with this id.")
    form = RangeForm(request.GET)
    if not form.is_valid():
        return problem(request, form_errors(form))
    start, end = form.span
    archived = archive.archives_between(POSITIONS, start, end)
    if archived:
        return problem(request, archive.refusal(archived), status=409)
    points = selectors.track(vehicle, start, end, thin=False)
    record_export(request.user, "positions", vehicle, start=start, end=end, file_format="gpx")
    name = f"{vehicle.name} {utc_stamp(start)} to {utc_stamp(end)}"
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gpx version="1.1" creator="Cold chain dashboard" xmlns="http://www.topografix.com/GPX/1/1">',
        f"<metadata><name>{escape(name)}</name><time>{utc_stamp(timezone.now())}</time></metadata>",
        f"<trk><name>{escape(vehicle.name)}</name><trkseg>",
    ]
    for p in points:
        description = []
        if p.temperature is not None:
            description.append(f"{p.temperature:.1f} °C")
        if p.speed_kmh is not None:
            description.append(f"{p.speed_kmh:.0f} km/h")
        desc = f"<desc>{escape(', '.join(description))}</desc>" if description else ""
        lines.append(
            f"<trkpt lat={quoteattr(repr(p.latitude))} lon={quoteattr(repr(p.longitude))}>"
            f"<time>{utc_stamp(p.timestamp)}</time>{desc}</trkpt>"
        )
    lines.append("</trkseg></trk></gpx>")
    response = HttpResponse("\n".join(lines), content_type="application/gpx+xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="track-{vehicle.vendor_id}-{start:%Y%m%d}.gpx"'
    return response
