"""The excursion report: summaries per group, quantity and rule profile (devices, excursions, time out
of range, min/max/mean, MKT: freezers never averaged with fridges), each excursion with its chart, its
signatures (who, meaning, time), disposition and root cause and, for vehicles, where it started and ended;
the no-data excursions in one table. Times in the requester's zone (UTC for scheduled emails), named.

One ``build_report`` and several renderers: the HTML and text email, the PDF, the CSV of the readings
inside the excursion windows. The scheduled email (``send_subscribed_reports``), the Alerts page download
and ``manage.py excursion_report`` all use them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from email.mime.image import MIMEImage
from pathlib import Path

import matplotlib
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Max, Min, Q, Sum
from django.template.loader import render_to_string
from django.utils import timezone
from fpdf import FPDF
from fpdf.fonts import FontFace

from alarms.calibration import InForce, overdue_channels
from alarms.suppression import windows_between
from monitoring import signature_records
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
from monitoring.rules import rules_for_channels
from monitoring.signature_records import signatures_csv

# fpdf2 subsets fonts through fontTools, which logs every glyph at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

NO_GROUP = "No group"
# How much of the chart lies before and after the excursion.
CHART_PADDING = timedelta(hours=1)


@dataclass
class GroupSummary:
    """One row of the summary: a group's channels of one quantity under one rule profile (or one set of
    limits), so a freezer's -20 °C never enters a fridge's mean."""

    name: str
    profile: str = ""
    quantity: str = Quantity.TEMPERATURE
    unit: str = "°C"
    devices: int = 0
    excursions: int = 0
    minutes_out_of_range: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    mkt: float | None = None
    suppressed: int = 0  # of ``excursions``: inside a planned intervention (a suppression window)
    device_ids: set = field(default_factory=set, repr=False)

    @property
    def excursions_text(self) -> str:
        """ "3", or "3, 1 suppressed"."""
        return f"{self.excursions}, {self.suppressed} suppressed" if self.suppressed else str(self.excursions)

    @property
    def label(self) -> str:
        return " · ".join(p for p in (self.name, self.profile, Quantity(self.quantity).label.lower()) if p)


@dataclass
class ReportItem:
    excursion: Excursion
    group: str
    chart_png: bytes
    start_position: tuple[float, float] | None = None
    end_position: tuple[float, float] | None = None
    readings: list[tuple[datetime, float | None, str]] = field(default_factory=list)
    overdue: InForce | None = None  # the channel's calibration, overdue at the end of the period

    @property
    def device(self) -> Device:
        return self.excursion.channel.device

    @property
    def suppression(self):
        """The suppression window it started in and ended in (``alarms.ExcursionSuppression``), or None:
        none, or it outlasted the window and became a normal excursion."""
        suppression = getattr(self.excursion, "suppression", None)  # selected with the excursion
        return suppression if suppression is not None and suppression.lifted_at is None else None

    @property
    def suppression_text(self) -> str:
        """ "Suppressed (defrost: Weekly defrost)." or ""."""
        suppression = self.suppression
        if suppression is None:
            return ""
        return f"Suppressed ({suppression.get_kind_display().lower()}: {suppression.reason})."

    @property
    def overdue_text(self) -> str:
        overdue = self.overdue
        if overdue is None:
            return ""
        return (
            f"Calibration overdue since {overdue.due_on:%Y-%m-%d} (certificate {overdue.certificate_number})."
        )

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
    zone: tzinfo = UTC
    # Channels of the report's devices whose calibration was overdue at the end of the period:
    # [(device name, channel name, InForce)].
    overdue: list[tuple[str, str, InForce]] = field(default_factory=list)

    @property
    def zone_name(self) -> str:
        return getattr(self.zone, "key", str(self.zone))

    @property
    def range_text(self) -> str:
        start, end = self.start.astimezone(self.zone), self.end.astimezone(self.zone)
        return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({self.zone_name})"

    @property
    def title(self) -> str:
        scope = f" – {self.group}" if self.group else ""
        return f"Excursion report{scope}: {self.range_text}"

    @property
    def charted(self) -> list[ReportItem]:
        """Excursions with a chart each; the no-data ones are in one table (``no_data``)."""
        return [i for i in self.items if i.excursion.kind != ExcursionKind.NO_DATA]

    @property
    def no_data(self) -> list[ReportItem]:
        return [i for i in self.items if i.excursion.kind == ExcursionKind.NO_DATA]

    @property
    def suppressed(self) -> list[ReportItem]:
        return [i for i in self.items if i.suppression is not None]

    @property
    def overdue_day(self):
        """The day the calibrations are judged on: the period's last day, in the report's zone."""
        return (self.end - timedelta(microseconds=1)).astimezone(self.zone).date()


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
    zone: tzinfo | None = None,
) -> ExcursionReport:
    """The report of [start, end): excursions that overlap it, summaries of the readings inside it.

    ``charts=False`` leaves the charts out (the CSV has no use for them, and they are most of the work);
    ``progress(done, total)`` is told after each excursion."""
    if isinstance(group, str):
        group = DeploymentGroup.objects.filter(name=group).first() or DeploymentGroup.objects.get(name=group)
    devices = list(_devices(group).select_related("alarm_profile").prefetch_related("channels"))
    group_of_device = {d.pk: d.group.name if d.group else NO_GROUP for d in devices}
    channels = [c for d in devices for c in d.channels.all()]
    for device in devices:
        for channel in device.channels.all():
            channel.device = device  # rules_for_channels reads it: no query per channel
    rules = rules_for_channels(channels)
    summaries: dict[tuple, GroupSummary] = {}
    key_of_channel: dict[int, tuple] = {}
    for channel in channels:
        if channel.quantity not in (Quantity.TEMPERATURE, Quantity.HUMIDITY):
            continue
        device = channel.device
        key = (group_of_device[device.pk], _profile(device, rules.get(channel.pk)), channel.quantity)
        key_of_channel[channel.pk] = key
        summary = summaries.setdefault(
            key, GroupSummary(key[0], key[1], channel.quantity, channel.get_unit_display())
        )
        summary.device_ids.add(device.pk)
    for summary in summaries.values():
        summary.devices = len(summary.device_ids)

    # From the hourly rollups: a week of a hundred loggers is 17,000 rows, not a million.
    stats = (
        ReadingRollup.objects.filter(channel_id__in=list(key_of_channel), hour__gte=start, hour__lt=end)
        .values("channel_id")
        .annotate(low=Min("minimum"), high=Max("maximum"), total=Sum("total"), count=Sum("count"))
    )
    totals: dict[tuple, list[float]] = {}
    for row in stats:
        key = key_of_channel[row["channel_id"]]
        summary = summaries[key]
        if row["low"] is not None:
            summary.minimum = row["low"] if summary.minimum is None else min(summary.minimum, row["low"])
            summary.maximum = row["high"] if summary.maximum is None else max(summary.maximum, row["high"])
        acc = totals.setdefault(key, [0.0, 0.0])
        acc[0] += row["total"] or 0.0
        acc[1] += row["count"] or 0
    for key, (total, count) in totals.items():
        summaries[key].mean = round(total / count, 2) if count else None

    channels_by_key: dict[tuple, list[int]] = {}
    for channel_id, key in key_of_channel.items():
        if key[2] == Quantity.TEMPERATURE:
            channels_by_key.setdefault(key, []).append(channel_id)
    for key, channel_ids in channels_by_key.items():
        mkt = _group_mkt(channel_ids, start, end)
        summaries[key].mkt = round(mkt, 2) if mkt is not None else None

    report_zone = zone or UTC
    overdue_day = (end - timedelta(microseconds=1)).astimezone(report_zone).date()
    overdue = overdue_channels(overdue_day)
    channel_names = {c.pk: (c.device.name, c.display_name) for c in channels}
    excursions = list(
        _excursions(devices, start, end)
        # The suppression with each excursion: the report says which were planned, without a query each.
        .select_related("channel__device__group", "rule", "acknowledged_by", "closed_by", "suppression")
        .prefetch_related("signatures__note", "signatures__user")
        .order_by("started_at")
    )
    items = []
    for done, excursion in enumerate(excursions, start=1):
        device = excursion.channel.device
        summary = summaries.get(key_of_channel.get(excursion.channel_id))
        if summary is not None:
            summary.excursions += 1
            if excursion.kind != ExcursionKind.NO_DATA:
                summary.minutes_out_of_range += _clip_minutes(excursion, start, end)
        # A no-data excursion has nothing to draw: it is a row of the no-data table.
        chart = charts and excursion.kind != ExcursionKind.NO_DATA
        item = _report_item(excursion, group_of_device[device.pk], charts=chart, zone=report_zone)
        item.overdue = overdue.get(excursion.channel_id)
        if summary is not None and item.suppression is not None:
            summary.suppressed += 1
        items.append(item)
        if progress is not None:
            progress(done, len(excursions))
    for summary in summaries.values():
        summary.minutes_out_of_range = round(summary.minutes_out_of_range, 1)
    return ExcursionReport(
        start=start,
        end=end,
        group=group.name if group else None,
        groups=sorted(summaries.values(), key=lambda s: (s.name, s.quantity, s.profile)),
        items=items,
        zone=report_zone,
        overdue=sorted(
            (
                (*channel_names[channel_id], row)
                for channel_id, row in overdue.items()
                if channel_id in channel_names
            ),
            key=lambda r: (r[0].casefold(), r[1].casefold(), r[2].channel_id),
        ),
    )


def _profile(device: Device, rule) -> str:
    """What the summary groups channels by: the device's alarm profile, else its rule's limits."""
    if device.alarm_profile_id:
        return device.alarm_profile.name
    low, high = getattr(rule, "low_limit", None), getattr(rule, "high_limit", None)
    if low is None and high is None:
        return "no limits"
    if low is None:
        return f"at most {high:g}"
    if high is None:
        return f"at least {low:g}"
    return f"{low:g} to {high:g}"


def _report_item(excursion: Excursion, group: str, charts: bool = True, zone: tzinfo = UTC) -> ReportItem:
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
    chart = _chart(excursion, window_end, zone) if charts else b""
    item = ReportItem(excursion=excursion, group=group, chart_png=chart, readings=inside)
    if device.kind == DeviceKind.VEHICLE:
        item.start_position = _position_near(device, excursion.started_at)
        item.end_position = _position_near(device, excursion.ended_at)
    return item


def _chart(excursion: Excursion, window_end: datetime, zone: tzinfo = UTC) -> bytes:
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
    windows = windows_between(
        channel.device, [channel], excursion.started_at - CHART_PADDING, window_end + CHART_PADDING
    )
    return excursion_chart_png(
        around,
        windows=[(w.start, w.end, w.label) for w in windows],
        low=excursion.low_limit,
        high=excursion.high_limit,
        started_at=excursion.started_at,
        ended_at=excursion.ended_at,
        window_end=window_end,
        title=f"{channel.device.name} / {channel.display_name}: {excursion.get_kind_display().lower()}",
        unit=channel.get_unit_display(),
        zone=zone,
    )


# -- renderers --------------------------------------------------------------------------------------


def _fmt(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _when(moment: datetime | None, zone: tzinfo = UTC) -> str:
    if not moment:
        return "ongoing"
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _duration(excursion: Excursion) -> str:
    from monitoring.templatetags.dashboard import duration_in_words

    return duration_in_words(excursion.duration)


def signature_lines(excursion: Excursion, zone: tzinfo = UTC) -> list[str]:
    """The signatures as signed (printed name, meaning, date and time with the zone, and a signature
    whose content changed since shown as broken), then the acknowledgement comment, the disposition,
    the root cause and the product impact."""
    signed = [f"Signed: {line}" for line in signature_records.signature_lines(excursion, zone)]
    lines = list(signed)
    if excursion.acknowledgement_comment:
        lines.append(f"Acknowledgement comment: {excursion.acknowledgement_comment}")
    if excursion.closed_at:
        lines.append(
            f"Disposition: {excursion.get_disposition_display() or '–'}. "
            f"Root cause: {excursion.root_cause or '–'}. "
            f"Product impact: {excursion.get_product_impact_display() or '–'}."
        )
    if not signed:
        lines.append("Not acknowledged yet: no signature.")
    elif excursion.closed_at is None:
        lines.append("Not closed yet.")
    return lines


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
            # A suppressed excursion (a planned intervention: nobody was notified) and its window's reason.
            "suppressed",
            "suppression_reason",
        ]
    )
    for item in report.items:
        channel = item.excursion.channel
        suppression = item.suppression
        suppressed = (
            ["yes", f"{suppression.get_kind_display()}: {suppression.reason}"] if suppression else ["", ""]
        )
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
                    *suppressed,
                ]
            )
    return out.getvalue().encode()


def _font_dir() -> Path:
    # DejaVu ships inside matplotlib: Unicode text (°C, –, −) with no system font.
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


class ReportPDF(FPDF):
    """A4 pages that each say what report they belong to: its range and zone, and "Page n of N"."""

    def __init__(self, report: ExcursionReport):
        super().__init__(format="A4")
        self.report = report
        self.add_font("DejaVu", "", str(_font_dir() / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(_font_dir() / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(True, margin=18)

    def header(self) -> None:
        if self.page_no() == 1:
            return  # the title says it
        self.set_font("DejaVu", "", 7)
        self.set_text_color(95, 99, 104)
        self.cell(0, 5, self.report.title, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font("DejaVu", "", 7)
        self.set_text_color(95, 99, 104)
        self.cell(0, 5, f"{self.report.range_text} · Page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(0, 0, 0)


def _table(pdf: FPDF, headings: list[str], widths: list[float], rows: list[list[str]]) -> None:
    """A table whose cells wrap (no text cut), its heading again on each new page."""
    line = 4.2

    pdf.set_font("DejaVu", "", 7)
    with pdf.table(
        col_widths=widths,
        width=sum(widths),
        text_align="LEFT",
        line_height=line,
        align="LEFT",
        repeat_headings=1,
        headings_style=FontFace(emphasis="BOLD"),
    ) as table:
        table.row(headings)
        for cells in rows:
            table.row(cells)


def render_pdf(report: ExcursionReport) -> bytes:
    zone = report.zone
    pdf = ReportPDF(report)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 14)
    pdf.multi_cell(0, 8, report.title, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8)
    pdf.multi_cell(
        0,
        4.5,
        f"Times in {report.zone_name}. Summaries per group, quantity and rule profile (or limits): channels "
        "under other limits are never averaged together.",
        align="L",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(0, 7, "Summary", new_x="LMARGIN", new_y="NEXT")
    _table(
        pdf,
        [
            "Group",
            "Profile or limits",
            "Quantity",
            "Devices",
            "Excursions",
            "Min out",
            "Min",
            "Max",
            "Mean",
            "MKT",
        ],
        [26, 24, 25, 13, 19, 14, 17, 17, 17, 18],  # "Temperature" and "Excursions" on one line
        [
            [
                s.name,
                s.profile,
                Quantity(s.quantity).label,
                str(s.devices),
                s.excursions_text,
                _fmt(s.minutes_out_of_range, 0),
                f"{_fmt(s.minimum)} {s.unit}",
                f"{_fmt(s.maximum)} {s.unit}",
                f"{_fmt(s.mean)} {s.unit}",
                f"{_fmt(s.mkt, 2)} °C" if s.quantity == Quantity.TEMPERATURE else "",
            ]
            for s in report.groups
        ],
    )
    pdf.ln(4)
    charted, no_data = report.charted, report.no_data
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(0, 7, f"Excursions ({len(report.items)})", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    if not report.items:
        pdf.cell(0, 6, "No excursion in this period.", new_x="LMARGIN", new_y="NEXT")
    if report.suppressed:
        pdf.multi_cell(
            0,
            5,
            f"{len(report.suppressed)} of them suppressed: inside a planned intervention (a suppression "
            "window: maintenance, defrost, calibration, loading), nobody was notified; each says its "
            "window's reason.",
            align="L",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    elif no_data:
        pdf.cell(
            0,
            6,
            f"{len(charted)} out of range, each with its chart; {len(no_data)} without data, in the table "
            "after them.",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    for item in charted:
        e = item.excursion
        unit = e.channel.get_unit_display()
        if pdf.will_page_break(95):
            pdf.add_page()  # an excursion's text and chart on one page
        pdf.set_font("DejaVu", "B", 9)
        pdf.multi_cell(
            0,
            5,
            f"#{e.pk} {item.device.name} / {e.channel.display_name} – "
            f"{e.get_kind_display()} ({e.get_severity_display()})"
            + (" – SUPPRESSED" if item.suppression else ""),
            align="L",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_font("DejaVu", "", 8)
        lines = [
            f"Group: {item.group}. Limits: {_fmt(e.low_limit)} to {_fmt(e.high_limit)} {unit}.",
            f"Started {_when(e.started_at, zone)}, ended {_when(e.ended_at, zone)}."
            + (f" Duration {_duration(e)}." if e.duration else ""),
            f"Peak {_fmt(e.peak_value)} {unit}; {e.degree_minutes:.1f} degree-minutes out of range; "
            f"MKT {_fmt(e.mkt, 2)} °C. State: {e.get_state_display()}. {item.suppression_text}".rstrip(),
            *[line for line in [item.overdue_text] if line],
        ]
        if item.device.kind == DeviceKind.VEHICLE:
            lines.append(f"Started at {_where(item.start_position)}; ended at {_where(item.end_position)}.")
        # The electronic signatures (21 CFR 11.50): printed name, meaning, date and time with the zone.
        lines += signature_lines(e, zone)
        for line in lines:
            pdf.multi_cell(0, 4.5, line, align="L", new_x="LMARGIN", new_y="NEXT")
        if item.chart_png:
            pdf.image(io.BytesIO(item.chart_png), w=170)
        pdf.ln(3)
    if no_data:
        pdf.ln(2)
        pdf.set_font("DejaVu", "B", 11)
        pdf.cell(0, 7, f"No-data excursions ({len(no_data)})", new_x="LMARGIN", new_y="NEXT")
        _table(
            pdf,
            ["#", "Device / channel", "Group", "Started", "Ended", "Duration", "State", "Signatures"],
            [8, 32, 20, 22, 22, 14, 22, 50],
            [
                [
                    str(i.excursion.pk),
                    f"{i.device.name} / {i.excursion.channel.display_name}",
                    i.group,
                    _when(i.excursion.started_at, zone),
                    _when(i.excursion.ended_at, zone),
                    _duration(i.excursion) if i.excursion.duration else "ongoing",
                    " ".join(p for p in (i.excursion.get_state_display() + ".", i.suppression_text) if p),
                    "; ".join(signature_lines(i.excursion, zone)),
                ]
                for i in no_data
            ],
        )
    _overdue_table(pdf, report)
    return bytes(pdf.output())


def _overdue_table(pdf: FPDF, report: ExcursionReport) -> None:
    pdf.ln(2)
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(0, 7, f"Calibration overdue ({len(report.overdue)})", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8)
    if not report.overdue:
        pdf.cell(
            0,
            6,
            f"No channel's calibration was overdue on {report.overdue_day:%Y-%m-%d}.",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        return
    pdf.multi_cell(
        0,
        4.5,
        f"Channels whose certificate in force was past its due date on {report.overdue_day:%Y-%m-%d}, the "
        "period's last day.",
        align="L",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    _table(
        pdf,
        ["Device", "Channel", "Certificate", "Laboratory", "Due"],
        [45, 35, 35, 45, 25],
        [
            [device, channel, row.certificate_number, row.laboratory, f"{row.due_on:%Y-%m-%d}"]
            for device, channel, row in report.overdue
        ],
    )


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
                "signatures": signature_lines(item.excursion, report.zone),
                "suppressed": item.suppression_text,
                "overdue": item.overdue_text,
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
        if not item.chart_png:
            continue  # a no-data excursion: nothing to draw
        image = MIMEImage(item.chart_png, "png")
        image.add_header("Content-ID", f"<{item.content_id}>")
        image.add_header("Content-Disposition", "inline", filename=f"{item.content_id}.png")
        message.attach(image)
    stem = f"excursion-report-{report.start:%Y%m%d}-{report.end:%Y%m%d}"
    message.attach(f"{stem}.pdf", render_pdf(report), "application/pdf")
    message.attach(f"{stem}-readings.csv", render_csv(report).decode(), "text/csv")
    message.attach(
        f"{stem}-signatures.csv", signatures_csv(i.excursion for i in report.items).decode(), "text/csv"
    )
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
