"""The excursion report: per group a summary (devices, excursions, time out of range, min/max/mean, MKT)
and each excursion with its chart and, for vehicles, where it started and ended.

One ``build_report`` and several renderers: the HTML and text email, the PDF, the CSV of the readings
inside the excursion windows. The scheduled email (``send_subscribed_reports``), the Alerts page download
and ``manage.py excursion_report`` all use them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.mime.image import MIMEImage
from pathlib import Path

import matplotlib
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Max, Min, Q, Sum
from django.template.loader import render_to_string
from django.utils import timezone
from fpdf import FPDF

from alarms.calibration import overdue_line
from alarms.suppression import suppression_line
from monitoring.charts import excursion_chart_png
from monitoring.choices import DeviceKind, Quantity
from monitoring.csv_cells import SafeCsvWriter
from monitoring.mkt import mean_kinetic_temperature_weighted, sample_weights
from monitoring.models import (
    DeploymentGroup,
    Device,
    Excursion,
    Position,
    Reading,
    ReadingRollup,
    ReportSubscription,
)
from monitoring.models.excursions import DEFAULT_ACTIVATION_ENERGY, ExcursionKind
from monitoring.notifications import render_subject, render_text, send_message_once, site_link

# fpdf2 subsets fonts through fontTools, which logs every glyph at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

NO_GROUP = "No group"
# How much of the chart lies before and after the excursion.
CHART_PADDING = timedelta(hours=1)


@dataclass
class GroupSummary:
    name: str
    devices: int = 0
    excursions: int = 0
    minutes_out_of_range: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    mkt: float | None = None


@dataclass
class ReportItem:
    excursion: Excursion
    group: str
    chart_png: bytes
    start_position: tuple[float, float] | None = None
    end_position: tuple[float, float] | None = None
    readings: list[tuple[datetime, float | None, str]] = field(default_factory=list)

    @property
    def device(self) -> Device:
        return self.excursion.channel.device

    @property
    def content_id(self) -> str:
        return f"chart-{self.excursion.pk}"


@dataclass
class ExcursionReport:
    start: datetime
    end: datetime
    group: str | None
    groups: list[GroupSummary]
    items: list[ReportItem]

    @property
    def title(self) -> str:
        scope = f" – {self.group}" if self.group else ""
        return f"Excursion report{scope}: {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"


def _clip_minutes(excursion: Excursion, start: datetime, end: datetime) -> float:
    began = max(excursion.started_at, start)
    finished = min(excursion.ended_at or min(end, timezone.now()), end)
    return max((finished - began).total_seconds() / 60, 0.0)


def _position_near(device: Device, moment: datetime | None) -> tuple[float, float] | None:
    if moment is None:
        return None
    near = (
        Position.objects.filter(device=device, timestamp__lte=moment).order_by("-timestamp").first()
        or Position.objects.filter(device=device, timestamp__gt=moment).order_by("timestamp").first()
    )
    return (near.latitude, near.longitude) if near else None


def _group_mkt(channel_ids: list[int], start: datetime, end: datetime) -> float | None:
    values: list[float] = []
    weights: list[float] = []
    rows = (
        Reading.objects.filter(
            channel_id__in=channel_ids, timestamp__gte=start, timestamp__lt=end, value__isnull=False
        )
        .order_by("channel_id", "timestamp")
        .values_list("channel_id", "timestamp", "value")
    )
    by_channel: dict[int, list[tuple[datetime, float]]] = {}
    for channel_id, timestamp, value in rows.iterator(chunk_size=5000):
        by_channel.setdefault(channel_id, []).append((timestamp, value))
    for samples in by_channel.values():
        values += [v for _, v in samples]
        weights += sample_weights([t for t, _ in samples])
    if not values:
        return None
    return mean_kinetic_temperature_weighted(values, weights, DEFAULT_ACTIVATION_ENERGY)


def _devices(group: DeploymentGroup | None):
    devices = Device.objects.select_related("group")
    return devices.filter(group=group) if group is not None else devices


def _excursions(devices, start: datetime, end: datetime):
    """Excursions that overlap [start, end)."""
    return Excursion.objects.filter(channel__device__in=devices, started_at__lt=end).filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=start)
    )


def count_excursions(start: datetime, end: datetime, group: DeploymentGroup | None = None) -> int:
    """How many excursions the report of [start, end) would hold (its size, before building it)."""
    return _excursions(_devices(group), start, end).count()


def build_report(
    start: datetime,
    end: datetime,
    group: DeploymentGroup | str | None = None,
    *,
    charts: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> ExcursionReport:
    """The report of [start, end): excursions that overlap it, summaries of the readings inside it.

    ``charts=False`` leaves the charts out (the CSV has no use for them, and they are most of the work);
    ``progress(done, total)`` is told after each excursion."""
    if isinstance(group, str):
        group = DeploymentGroup.objects.filter(name=group).first() or DeploymentGroup.objects.get(name=group)
    devices = list(_devices(group))
    summaries: dict[str, GroupSummary] = {}
    group_of_device = {}
    for device in devices:
        name = device.group.name if device.group else NO_GROUP
        group_of_device[device.pk] = name
        summaries.setdefault(name, GroupSummary(name)).devices += 1

    # Temperatures from the hourly rollups: a week of a hundred loggers is 17,000 rows, not a million.
    stats = (
        ReadingRollup.objects.filter(
            channel__device__in=devices,
            channel__quantity=Quantity.TEMPERATURE,
            hour__gte=start - timedelta(hours=1),
            hour__lt=end,
        )
        .values("channel__device_id")
        .annotate(low=Min("minimum"), high=Max("maximum"), total=Sum("total"), count=Sum("count"))
    )
    totals: dict[str, list[float]] = {}
    for row in stats:
        summary = summaries[group_of_device[row["channel__device_id"]]]
        if row["low"] is not None:
            summary.minimum = row["low"] if summary.minimum is None else min(summary.minimum, row["low"])
            summary.maximum = row["high"] if summary.maximum is None else max(summary.maximum, row["high"])
        acc = totals.setdefault(summary.name, [0.0, 0.0])
        acc[0] += row["total"] or 0.0
        acc[1] += row["count"] or 0
    for name, (total, count) in totals.items():
        summaries[name].mean = round(total / count, 2) if count else None

    channels_by_group: dict[str, list[int]] = {}
    for device in devices:
        for channel in device.channels.all():
            if channel.quantity == Quantity.TEMPERATURE:
                channels_by_group.setdefault(group_of_device[device.pk], []).append(channel.pk)
    for name, channel_ids in channels_by_group.items():
        mkt = _group_mkt(channel_ids, start, end)
        summaries[name].mkt = round(mkt, 2) if mkt is not None else None

    excursions = list(
        _excursions(devices, start, end)
        .select_related("channel__device__group", "rule")
        .order_by("started_at")
    )
    items = []
    for done, excursion in enumerate(excursions, start=1):
        device = excursion.channel.device
        summary = summaries[group_of_device[device.pk]]
        summary.excursions += 1
        if excursion.kind != ExcursionKind.NO_DATA:
            summary.minutes_out_of_range += _clip_minutes(excursion, start, end)
        items.append(_report_item(excursion, group_of_device[device.pk], charts=charts))
        if progress is not None:
            progress(done, len(excursions))
    for summary in summaries.values():
        summary.minutes_out_of_range = round(summary.minutes_out_of_range, 1)
    return ExcursionReport(
        start=start,
        end=end,
        group=group.name if group else None,
        groups=sorted(summaries.values(), key=lambda s: s.name),
        items=items,
    )


def _report_item(excursion: Excursion, group: str, charts: bool = True) -> ReportItem:
    channel = excursion.channel
    device = channel.device
    window_end = excursion.ended_at or timezone.now()
    inside = list(
        Reading.objects.filter(
            channel=channel, timestamp__gte=excursion.started_at, timestamp__lte=window_end
        )
        .order_by("timestamp")
        .values_list("timestamp", "value", "error")
    )
    chart = _chart(excursion, window_end) if charts else b""
    item = ReportItem(excursion=excursion, group=group, chart_png=chart, readings=inside)
    if device.kind == DeviceKind.VEHICLE:
        item.start_position = _position_near(device, excursion.started_at)
        item.end_position = _position_near(device, excursion.ended_at)
    return item


def _chart(excursion: Excursion, window_end: datetime) -> bytes:
    channel = excursion.channel
    around = list(
        Reading.objects.filter(
            channel=channel,
            timestamp__gte=excursion.started_at - CHART_PADDING,
            timestamp__lte=window_end + CHART_PADDING,
        )
        .order_by("timestamp")
        .values_list("timestamp", "value")
    )
    return excursion_chart_png(
        around,
        low=excursion.low_limit,
        high=excursion.high_limit,
        started_at=excursion.started_at,
        ended_at=excursion.ended_at,
        window_end=window_end,
        title=f"{channel.device.name} / {channel.display_name}: {excursion.get_kind_display().lower()}",
        unit=channel.get_unit_display(),
    )


# -- renderers --------------------------------------------------------------------------------------


def _fmt(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "ongoing"


def _where(position: tuple[float, float] | None) -> str:
    return f"{position[0]:.5f}, {position[1]:.5f}" if position else "unknown"


def render_csv(report: ExcursionReport) -> bytes:
    """The readings inside each excursion's window, one row per reading."""
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(
        [
            "excursion_id",
            "kind",
            "device_id",
            "device_name",
            "channel",
            "unit",
            "timestamp",
            "value",
            "error",
            "channel_label",
        ]
    )
    for item in report.items:
        channel = item.excursion.channel
        for timestamp, value, error in item.readings:
            writer.writerow(
                [
                    item.excursion.pk,
                    item.excursion.kind,
                    item.device.vendor_id,
                    item.device.name,
                    channel.name,
                    channel.unit,
                    timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    value,  # a number (None is written empty)
                    error,
                    channel.display_name,
                ]
            )
    return out.getvalue().encode()


def _font_dir() -> Path:
    # DejaVu ships inside matplotlib: Unicode text (°C, –, −) with no system font.
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def render_pdf(report: ExcursionReport) -> bytes:
    pdf = FPDF(format="A4")
    pdf.add_font("DejaVu", "", str(_font_dir() / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(_font_dir() / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 14)
    pdf.multi_cell(0, 8, report.title, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(0, 7, "Summary per group", new_x="LMARGIN", new_y="NEXT")
    headings = ["Group", "Devices", "Excursions", "Min out (min)", "Min °C", "Max °C", "Mean °C", "MKT °C"]
    widths = [46, 16, 20, 24, 18, 18, 20, 18]
    pdf.set_font("DejaVu", "B", 8)
    for heading, width in zip(headings, widths, strict=True):
        pdf.cell(width, 6, heading, border=1)
    pdf.ln()
    pdf.set_font("DejaVu", "", 8)
    for s in report.groups:
        cells = [
            s.name,
            str(s.devices),
            str(s.excursions),
            _fmt(s.minutes_out_of_range, 0),
            _fmt(s.minimum),
            _fmt(s.maximum),
            _fmt(s.mean),
            _fmt(s.mkt, 2),
        ]
        for text, width in zip(cells, widths, strict=True):
            pdf.cell(width, 6, text[:30], border=1)
        pdf.ln()
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(0, 7, f"Excursions ({len(report.items)})", new_x="LMARGIN", new_y="NEXT")
    if not report.items:
        pdf.set_font("DejaVu", "", 9)
        pdf.cell(0, 6, "No excursion in this period.", new_x="LMARGIN", new_y="NEXT")
    for item in report.items:
        e = item.excursion
        unit = e.channel.get_unit_display()
        pdf.set_font("DejaVu", "B", 9)
        pdf.multi_cell(
            0,
            5,
            f"#{e.pk} {item.device.name} / {e.channel.display_name} – "
            f"{e.get_kind_display()} ({e.get_severity_display()})",
            align="L",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_font("DejaVu", "", 8)
        lines = [
            f"Group: {item.group}. Limits: {_fmt(e.low_limit)} to {_fmt(e.high_limit)} {unit}.",
            f"Started {_when(e.started_at)}, ended {_when(e.ended_at)}."
            + (f" Duration {e.duration}." if e.duration else ""),
            f"Peak {_fmt(e.peak_value)} {unit}; {e.degree_minutes:.1f} degree-minutes out of range; "
            f"MKT {_fmt(e.mkt, 2)} °C. State: {e.get_state_display()}. {suppression_line(e)}".rstrip(),
            *[line for line in [overdue_line(e.channel)] if line],
        ]
        if item.device.kind == DeviceKind.VEHICLE:
            lines.append(f"Started at {_where(item.start_position)}; ended at {_where(item.end_position)}.")
        for line in lines:
            pdf.multi_cell(0, 4.5, line, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.image(io.BytesIO(item.chart_png), w=170)
        pdf.ln(3)
    return bytes(pdf.output())


def _context(report: ExcursionReport) -> dict:
    return {
        "report": report,
        "items": [
            {
                "item": item,
                "link": site_link("excursion_detail", item.excursion.pk),
                "start_where": _where(item.start_position),
                "end_where": _where(item.end_position),
                "is_vehicle": item.device.kind == DeviceKind.VEHICLE,
            }
            for item in report.items
        ],
    }


def build_report_email(report: ExcursionReport, recipients: list[str]) -> EmailMultiAlternatives:
    """HTML with a text alternative; charts inline (cid:), the PDF and the CSV attached."""
    context = {"site_url": settings.SITE_URL, **_context(report)}
    subject = render_subject("emails/excursion-report-subject.txt", context)
    text = render_text("emails/excursion-report-body.txt", context)
    html = render_to_string("emails/excursion-report-body.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, recipients)
    message.attach_alternative(html, "text/html")
    for item in report.items:
        image = MIMEImage(item.chart_png, "png")
        image.add_header("Content-ID", f"<{item.content_id}>")
        image.add_header("Content-Disposition", "inline", filename=f"{item.content_id}.png")
        message.attach(image)
    stem = f"excursion-report-{report.start:%Y%m%d}-{report.end:%Y%m%d}"
    message.attach(f"{stem}.pdf", render_pdf(report), "application/pdf")
    message.attach(f"{stem}-readings.csv", render_csv(report).decode(), "text/csv")
    return message


def report_period(frequency: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The previous whole UTC day, or the previous seven whole UTC days."""
    now = (now or timezone.now()).astimezone(UTC)
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return end - timedelta(days=7 if frequency == "weekly" else 1), end


def send_subscribed_reports(frequency: str, now: datetime | None = None) -> int:
    """Send the report to every enabled subscription of this frequency; returns how many were sent."""
    start, end = report_period(frequency, now)
    sent = 0
    for subscription in ReportSubscription.objects.filter(enabled=True, frequency=frequency).select_related(
        "group"
    ):
        report = build_report(start, end, subscription.group)
        message = build_report_email(report, subscription.recipient_list)
        if send_message_once(f"report:{subscription.pk}:{frequency}:{start:%Y%m%d}", message):
            sent += 1
            subscription.last_sent_at = timezone.now()
            subscription.save(update_fields=["last_sent_at"])
    return sent
