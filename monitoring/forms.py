"""Forms of the pages: every bad input becomes a clear message (and a 400), never a 500."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from zoneinfo import available_timezones

from django import forms
from django.forms.utils import flatatt
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.safestring import SafeString

from monitoring.choices import ExcursionState, InstallationStatus, ReportFormat, Severity
from monitoring.models import DeploymentGroup, Device
from monitoring.selectors import STATUS_CHOICES, AlertFilters, OverviewFilters, VendorEventFilters
from monitoring.selectors.alerts import parse_group_key
from monitoring.vendor_events import EventKind
from vendors.models import VendorAccount
from vendors.registry import VENDOR_CHOICES, slugs_that

MAX_RANGE = timedelta(days=731)  # two years
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)  # a day outside these is a typing mistake


class DayField(forms.DateField):
    """A day between 2000 and 2100 (so no arithmetic on it can leave the calendar)."""

    default_error_messages = {"out_of_range": "Enter a date between 2000-01-01 and 2100-12-31."}

    def validate(self, value):
        super().validate(value)
        if value and not EARLIEST <= value <= LATEST:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range")


class InstantField(forms.DateTimeField):
    """A date and time between 2000 and 2100."""

    default_error_messages = {"out_of_range": "Enter a time between 2000 and 2100."}

    def validate(self, value):
        super().validate(value)
        if value and not EARLIEST <= value.date() <= LATEST:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range")


class RangeForm(forms.Form):
    """A time range: a preset ending now, or custom dates (whole days in the user's zone)."""

    PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
    PRESET_CHOICES = [
        ("24h", "24 h"),
        ("7d", "7 d"),
        ("30d", "30 d"),
        ("1y", "1 y"),
        ("custom", "Custom"),
    ]

    ZOOM_FORMATS = ["%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]

    range = forms.ChoiceField(choices=[*PRESET_CHOICES, ("zoom", "Zoomed")], required=False, label="Range")
    # A zoom on the chart asks for its exact span (wall-clock times in the user's zone, as drawn).
    zoom_from = InstantField(required=False, input_formats=ZOOM_FORMATS, label="Zoom from")
    zoom_to = InstantField(required=False, input_formats=ZOOM_FORMATS, label="Zoom to")
    start = DayField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = DayField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data=None, *, default: str = "24h", now: datetime | None = None, **kwargs):
        super().__init__(data, **kwargs)
        self.default = default
        self.now = now or timezone.now()

    def clean(self):
        data = super().clean()
        preset = data.get("range") or ("custom" if data.get("start") or data.get("end") else self.default)
        data["range"] = preset
        if preset == "custom":
            start_day, end_day = data.get("start"), data.get("end")
            if self.errors:
                return data
            if not start_day or not end_day:
                raise forms.ValidationError("A custom range needs both a start date and an end date.")
            if end_day < start_day:
                raise forms.ValidationError("The end date is before the start date.")
            zone = timezone.get_current_timezone()
            start = datetime.combine(start_day, time.min, tzinfo=zone)
            end = datetime.combine(end_day + timedelta(days=1), time.min, tzinfo=zone)
            if end - start > MAX_RANGE:
                raise forms.ValidationError("A range can be at most two years long.")
        elif preset == "zoom":
            if self.errors:
                return data
            start, end = data.get("zoom_from"), data.get("zoom_to")
            if not start or not end:
                raise forms.ValidationError("A zoom needs both ends of the range.")
            if end <= start:
                raise forms.ValidationError("The end of the range is before its start.")
            if end - start > MAX_RANGE:
                raise forms.ValidationError("A range can be at most two years long.")
            start, end = max(start, self.now - MAX_RANGE), min(end, self.now + timedelta(days=1))
            if end <= start:
                raise forms.ValidationError("There is nothing to show in this range.")
        elif preset == "1y":
            end = self.now
            start = end - timedelta(days=365)
        else:
            end = self.now
            start = end - self.PRESETS[preset]
        data["start_at"], data["end_at"] = start, end
        return data

    @property
    def span(self) -> tuple[datetime, datetime]:
        return self.cleaned_data["start_at"], self.cleaned_data["end_at"]


class OverviewFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    vendor = forms.ChoiceField(required=False, label="Vendor")
    group = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Group")
    status = forms.ChoiceField(required=False, label="Status", choices=[("", "Any status"), *STATUS_CHOICES])
    retired = forms.BooleanField(required=False, label="Show retired devices")
    calibration = forms.BooleanField(required=False, label="Calibration overdue only")
    page = forms.IntegerField(required=False, min_value=1, label="Page")

    def __init__(self, data=None, *, groups=(), **kwargs):
        super().__init__(data, **kwargs)
        self.fields["vendor"].choices = [("", "Any vendor"), *VENDOR_CHOICES]
        self.fields["group"].choices = [("", "Any group"), ("0", "No group")] + [
            (str(g.pk), g.name) for g in groups
        ]

    def filters(self) -> OverviewFilters:
        data = self.cleaned_data
        return OverviewFilters(
            vendor=data.get("vendor") or "",
            group=data.get("group"),
            status=data.get("status") or "",
            search=(data.get("q") or "").strip(),
            show_retired=bool(data.get("retired")),
            calibration_overdue=bool(data.get("calibration")),
        )


class PlainSelect(forms.Select):
    """A select of many plain (value, label) choices, the same HTML written out directly: Django draws
    each option through its own template, and the 1,000 devices of a fleet took about half of the Alerts
    page's time (issue 15)."""

    def render(self, name, value, attrs=None, renderer=None):
        chosen = set(self.format_value(value))
        options = "".join(
            f'<option value="{html.escape(str(v))}"{" selected" if str(v) in chosen else ""}>'
            f"{html.escape(str(label))}</option>"
            for v, label in self.choices
        )
        attributes = flatatt(self.build_attrs(self.attrs, attrs))
        return SafeString(f'<select name="{html.escape(name)}"{attributes}>{options}</select>')


def device_choices(devices) -> list[tuple[str, str]]:
    """The filters' device choice from (id, name) rows."""
    return [("", "Any device")] + [(str(pk), name) for pk, name in devices]


class AlertFilterForm(forms.Form):
    state = forms.ChoiceField(
        required=False, label="State", choices=[("", "Any state"), *ExcursionState.choices]
    )
    severity = forms.ChoiceField(
        required=False, label="Severity", choices=[("", "Any severity"), *Severity.choices]
    )
    device = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Device", widget=PlainSelect
    )
    start = DayField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = DayField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data=None, *, devices=(), **kwargs):
        super().__init__(data, **kwargs)
        # A callable: Django normalises a list of choices at once for the field and again for its widget,
        # 1,000 devices twice on every Alerts page; a callable's are listed when drawn or checked.
        self.fields["device"].choices = partial(device_choices, devices)

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise forms.ValidationError("The end date is before the start date.")
        return data

    def filters(self) -> AlertFilters:
        data = self.cleaned_data
        start, end = _day_span(data)
        return AlertFilters(
            state=data.get("state") or "",
            severity=data.get("severity") or "",
            device=data.get("device"),
            start=start,
            end=end,
        )


def _day_span(data) -> tuple[datetime | None, datetime | None]:
    """[start, end) of the days chosen, in the user's zone (the end day included)."""
    zone = timezone.get_current_timezone()
    start = datetime.combine(data["start"], time.min, tzinfo=zone) if data.get("start") else None
    end = (
        datetime.combine(data["end"] + timedelta(days=1), time.min, tzinfo=zone) if data.get("end") else None
    )
    return start, end


class VendorEventFilterForm(forms.Form):
    """The vendor events tab: by source (account), kind in words, device, acknowledged or not, days."""

    source = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Source")
    kind = forms.ChoiceField(required=False, label="Type", choices=[("", "Any type"), *EventKind.choices])
    device = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Device", widget=PlainSelect
    )
    state = forms.ChoiceField(
        required=False,
        label="State",
        choices=[("", "Any state"), ("open", "To acknowledge"), ("acknowledged", "Acknowledged")],
    )
    start = DayField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = DayField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data=None, *, accounts=(), devices=(), **kwargs):
        super().__init__(data, **kwargs)
        self.fields["source"].choices = [("", "Any source")] + [
            (str(a.pk), f"{a.get_vendor_display()} · {a.name}") for a in accounts
        ]
        # A callable: Django normalises a list of choices at once for the field and again for its widget,
        # 1,000 devices twice on every Alerts page; a callable's are listed when drawn or checked.
        self.fields["device"].choices = partial(device_choices, devices)

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise forms.ValidationError("The end date is before the start date.")
        return data

    def filters(self) -> VendorEventFilters:
        data = self.cleaned_data
        start, end = _day_span(data)
        return VendorEventFilters(
            account=data.get("source"),
            kind=data.get("kind") or "",
            device=data.get("device"),
            state=data.get("state") or "",
            start=start,
            end=end,
        )


class GroupKeysField(forms.Field):
    """Keys of groups of vendor events (``VendorEventGroup.key``), each a checkbox of the page."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        return [v for v in (value or []) if v]

    def validate(self, value):
        super().validate(value)
        if any(parse_group_key(v) is None for v in value):
            raise forms.ValidationError("Unknown group of events.", code="invalid")


class BulkAcknowledgeForm(forms.Form):
    """Acknowledge the chosen groups of vendor events with one comment; only events seen on the page
    (``seen_up_to``: the newest event's id when the page was drawn) are acknowledged."""

    group = GroupKeysField(
        label="Groups", error_messages={"required": "Choose at least one group of events."}
    )
    comment = forms.CharField(
        label="Comment", max_length=2000, strip=True, error_messages={"required": "A comment is required."}
    )
    seen_up_to = forms.IntegerField(min_value=0, widget=forms.HiddenInput)


class AcknowledgeForm(forms.Form):
    comment = forms.CharField(
        label="Comment", max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), strip=True
    )

    def clean_comment(self):
        comment = self.cleaned_data["comment"]
        if not comment:
            raise forms.ValidationError("A comment is required.")
        return comment


class SignedAcknowledgeForm(AcknowledgeForm):
    """An excursion's acknowledgement is an electronic signature: the user's password again."""

    password = forms.CharField(label="Your password (signature)", widget=forms.PasswordInput, strip=False)
    # Asked at the first signature of a session (monitoring.signatures): the service says if it is missing.
    username = forms.CharField(label="Your user name", required=False, max_length=150)


class GroupForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, strip=True)
    # Empty: a group kept by us. A Thingsee account: the group is created at Thingsee first.
    account = forms.ModelChoiceField(
        queryset=VendorAccount.objects.filter(vendor__in=slugs_that("keeps_groups")),
        required=False,
        label="Kept by",
    )


class MoveDevicesForm(forms.Form):
    devices = forms.ModelMultipleChoiceField(
        queryset=Device.objects.all(), label="Devices", widget=forms.CheckboxSelectMultiple
    )
    group = forms.ModelChoiceField(
        queryset=DeploymentGroup.objects.all(),
        required=False,
        label="Move to group",
        empty_label="No group",
    )


class InstallationStatusForm(forms.Form):
    status = forms.ChoiceField(label="New installation status", choices=InstallationStatus.choices)


COMMON_ZONES = sorted(available_timezones())


class TimeZoneForm(forms.Form):
    timezone = forms.ChoiceField(label="Time zone", choices=[(z, z) for z in COMMON_ZONES])


def parse_moment(text: str | None) -> datetime | None:
    """An ISO date or date-time between 2000 and 2100; a naive one is read in UTC. None if it is not."""
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


class MomentField(forms.CharField):
    """An ISO date (midnight) or date-time, UTC unless it says otherwise, between 2000 and 2100."""

    default_error_messages = {
        "invalid": "Enter a date such as 2026-11-01 (or a date and time such as 2026-11-01T06:00Z), "
        "between 2000 and 2100."
    }

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        moment = parse_moment(text)
        if moment is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return moment


class ReportRequestForm(forms.Form):
    """The excursion report of a period: [start, end) in UTC, all groups or one, PDF or CSV."""

    start = MomentField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = MomentField(
        label="To", widget=forms.DateInput(attrs={"type": "date"}), help_text="UTC; this day is not included."
    )
    group = forms.ModelChoiceField(
        queryset=DeploymentGroup.objects.all(),
        to_field_name="name",
        required=False,
        label="Group",
        empty_label="All groups",
    )
    format = forms.ChoiceField(label="File", choices=ReportFormat.choices, initial=ReportFormat.PDF)

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start >= end:
                raise forms.ValidationError("The start must be before the end.")
            if end - start > MAX_RANGE:
                raise forms.ValidationError("A report covers at most two years.")
        return data
