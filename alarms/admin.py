"""Admin of alarm handling: escalation policies with their levels, on-call rotas with their shifts,
notification channels (the Apprise URL is write-only, like vendor credentials) and the log of notices."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from alarms import channels as channel_service
from alarms import webhooks
from alarms.models import (
    CalibrationCertificate,
    DeliveryStatus,
    EscalationLevel,
    EscalationPolicy,
    HealthAlarm,
    Notification,
    NotificationChannel,
    OnCallRota,
    OnCallShift,
    SuppressionWindow,
    WebhookDelivery,
    WebhookEndpoint,
    Weekday,
)
from monitoring.admin import ReadOnlyAdmin


class EscalationLevelInline(admin.TabularInline):
    model = EscalationLevel
    extra = 0
    fields = ["position", "delay_minutes", "users", "groups", "rota", "channels"]


class EscalationPolicyForm(forms.ModelForm):
    quiet_days = forms.TypedMultipleChoiceField(
        choices=Weekday.choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "Quiet all day, e.g. Saturday and Sunday for business hours: warnings and device-health alarms "
            'wait for the next working day. Severity "alarm" never waits.'
        ),
    )

    class Meta:
        model = EscalationPolicy
        fields = [
            "name",
            "description",
            "enabled",
            "repeat_minutes",
            "for_device_health",
            "devices",
            "groups",
            "profiles",
            "time_zone",
            "quiet_hours_start",
            "quiet_hours_end",
            "quiet_days",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["quiet_days"] = sorted(self.instance.quiet_day_numbers)

    def clean_quiet_days(self) -> str:
        return ",".join(str(d) for d in sorted(set(self.cleaned_data.get("quiet_days") or [])))


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    form = EscalationPolicyForm
    list_display = ["name", "enabled", "repeat_minutes", "level_count"]
    search_fields = ["name"]
    filter_horizontal = ["devices", "groups", "profiles"]
    inlines = [EscalationLevelInline]
    fieldsets = [
        (None, {"fields": ["name", "description", "enabled", "repeat_minutes", "for_device_health"]}),
        (
            "Applies to (a device's own policy first, then its group's, then its profile's)",
            {"fields": ["devices", "groups", "profiles"]},
        ),
        (
            "Quiet hours and days for warnings and device-health alarms",
            {"fields": ["time_zone", "quiet_hours_start", "quiet_hours_end", "quiet_days"]},
        ),
    ]

    @admin.display(description="Levels")
    def level_count(self, policy: EscalationPolicy) -> int:
        return policy.levels.count()


class OnCallShiftInline(admin.TabularInline):
    model = OnCallShift
    extra = 0


@admin.register(OnCallRota)
class OnCallRotaAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone"]
    inlines = [OnCallShiftInline]


class NotificationChannelForm(forms.ModelForm):
    new_url = forms.CharField(
        required=False,
        label="Replace the Apprise URL",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "size": 80}),
        help_text=(
            "e.g. msteams://..., slack://..., ntfys://topic, json://host/path. See "
            "https://github.com/caronc/apprise/wiki. Leave empty to keep the stored URL; the stored URL is "
            "encrypted and never shown."
        ),
    )

    class Meta:
        model = NotificationChannel
        fields = ["name", "user", "position", "enabled"]

    def clean_new_url(self):
        url = self.cleaned_data.get("new_url", "").strip()
        if url and not channel_service.is_apprise_url(url):
            raise forms.ValidationError("Apprise does not know this URL's schema.")
        if not url and not (self.instance.pk and self.instance.url):
            raise forms.ValidationError("An Apprise URL is required.")
        return url

    def save(self, commit=True):
        channel = super().save(commit=False)
        if self.cleaned_data.get("new_url"):
            channel.secret = {"url": self.cleaned_data["new_url"]}
        if commit:
            channel.save()
        return channel


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    form = NotificationChannelForm
    list_display = ["name", "user", "position", "enabled", "health"]
    list_filter = ["enabled"]
    search_fields = ["name", "user__username"]
    readonly_fields = [
        "stored_url",
        "last_success_at",
        "last_failure_at",
        "last_failure",
        "consecutive_failures",
    ]
    fields = ["name", "user", "position", "enabled", "stored_url", "new_url", *readonly_fields[1:]]
    actions = ["send_test"]

    @admin.display(description="Stored URL")
    def stored_url(self, channel: NotificationChannel) -> str:
        if not channel.url:
            return "None"
        return f"Set: {channel.url.split('://', 1)[0]}://… (hidden)"

    @admin.display(description="Health")
    def health(self, channel: NotificationChannel) -> str:
        if channel.consecutive_failures:
            return f"failing ({channel.consecutive_failures}): {channel.last_failure}"
        return "ok" if channel.last_success_at else "not used yet"

    @admin.action(description="Send a test notification through the selected channels")
    def send_test(self, request, queryset):
        for channel in queryset:
            notification = channel_service.send_test(channel)
            if notification.status == "delivered":
                self.message_user(request, f"{channel}: the test was delivered.", messages.SUCCESS)
            else:
                self.message_user(
                    request, f"{channel}: the test failed: {notification.error}", messages.ERROR
                )


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = [
        "sent_at",
        "excursion",
        "kind",
        "level",
        "recipient",
        "via",
        "status",
        "attempts",
        "error",
    ]
    list_filter = ["kind", "status", "via"]
    search_fields = ["recipient", "excursion__id"]
    date_hierarchy = "sent_at"


class WebhookEndpointForm(forms.ModelForm):
    new_url = forms.URLField(
        required=False,
        label="Replace the URL",
        assume_scheme="https",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "size": 80}),
        help_text="Where the events are POSTed. Leave empty to keep the stored URL (encrypted, never shown).",
    )
    new_signing_secret = forms.CharField(
        required=False,
        min_length=32,
        label="Replace the signing secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "size": 80}),
        help_text=(
            "At least 32 characters, shared with the receiving system, e.g. from "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'. Leave empty to keep the stored "
            "secret (encrypted, never shown)."
        ),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "on_opened", "on_acknowledged", "on_closed", "enabled"]

    def clean(self):
        cleaned = super().clean()
        stored = self.instance.secret if self.instance.pk else {}
        if not cleaned.get("new_url") and not stored.get("url") and "new_url" not in self.errors:
            self.add_error("new_url", "A URL is required.")
        if not cleaned.get("new_signing_secret") and not stored.get("signing_secret"):
            if "new_signing_secret" not in self.errors:
                self.add_error("new_signing_secret", "A signing secret is required.")
        return cleaned

    def save(self, commit=True):
        endpoint = super().save(commit=False)
        secret = dict(endpoint.secret or {})
        if self.cleaned_data.get("new_url"):
            secret["url"] = self.cleaned_data["new_url"]
        if self.cleaned_data.get("new_signing_secret"):
            secret["signing_secret"] = self.cleaned_data["new_signing_secret"]
        endpoint.secret = secret
        if commit:
            endpoint.save()
        return endpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["name", "enabled", "on_opened", "on_acknowledged", "on_closed", "health"]
    readonly_fields = ["stored", "last_success_at", "last_failure_at", "last_failure", "consecutive_failures"]
    actions = ["send_test"]
    fields = [
        "name",
        "enabled",
        "on_opened",
        "on_acknowledged",
        "on_closed",
        "stored",
        "new_url",
        "new_signing_secret",
        *readonly_fields[1:],
    ]

    @admin.action(description="Send a signed test event to the selected endpoints")
    def send_test(self, request, queryset):
        for endpoint in queryset:
            delivery = webhooks.send_test(endpoint)
            answer = f" (HTTP {delivery.response_status})" if delivery.response_status else ""
            if delivery.status == DeliveryStatus.DELIVERED:
                self.message_user(request, f"{endpoint}: the test was delivered{answer}.", messages.SUCCESS)
            else:
                self.message_user(request, f"{endpoint}: the test failed: {delivery.error}", messages.ERROR)

    @admin.display(description="Stored")
    def stored(self, endpoint: WebhookEndpoint) -> str:
        url = "a URL" if endpoint.url else "no URL"
        secret = "a signing secret" if endpoint.signing_secret else "no signing secret"
        return f"{url} and {secret} (hidden)"

    @admin.display(description="Health")
    def health(self, endpoint: WebhookEndpoint) -> str:
        if endpoint.consecutive_failures:
            return f"failing ({endpoint.consecutive_failures}): {endpoint.last_failure}"
        return "ok" if endpoint.last_success_at else "not used yet"


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "endpoint",
        "event",
        "excursion",
        "status",
        "attempts",
        "response_status",
        "error",
        "delivered_at",
    ]
    list_filter = ["status", "event", "endpoint"]
    search_fields = ["delivery_id", "excursion__id"]
    date_hierarchy = "created_at"


class SuppressionWindowForm(forms.ModelForm):
    weekdays = forms.TypedMultipleChoiceField(
        choices=Weekday.choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Recurring window: the days it starts on. Leave all unticked for a one-off window.",
    )

    class Meta:
        model = SuppressionWindow
        fields = [
            "kind",
            "reason",
            "device",
            "channel",
            "group",
            "starts_at",
            "ends_at",
            "weekdays",
            "daily_start",
            "duration_minutes",
            "time_zone",
            "enabled",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["weekdays"] = sorted(self.instance.weekday_numbers)

    def clean_weekdays(self) -> str:
        return ",".join(str(d) for d in sorted(set(self.cleaned_data.get("weekdays") or [])))


@admin.register(SuppressionWindow)
class SuppressionWindowAdmin(admin.ModelAdmin):
    form = SuppressionWindowForm
    list_display = ["__str__", "scope", "when", "enabled", "created_by", "created_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["reason"]
    autocomplete_fields = ["device", "channel"]
    readonly_fields = ["created_by", "created_at"]
    fieldsets = [
        (None, {"fields": ["kind", "reason", "enabled"]}),
        ("For one of", {"fields": ["device", "channel", "group"]}),
        ("One-off (times in the zone of your pages)", {"fields": ["starts_at", "ends_at"]}),
        ("Or recurring", {"fields": ["weekdays", "daily_start", "duration_minutes", "time_zone"]}),
        ("Created", {"fields": ["created_by", "created_at"]}),
    ]

    @admin.display(description="For")
    def scope(self, window: SuppressionWindow) -> str:
        return str(window.channel or window.device or window.group)

    @admin.display(description="When")
    def when(self, window: SuppressionWindow) -> str:
        if window.recurring:
            days = ", ".join(Weekday(d).label[:3] for d in sorted(window.weekday_numbers))
            start = f"{window.daily_start:%H:%M}"
            return f"{days} from {start} for {window.duration_minutes} min ({window.time_zone})"
        return f"{window.starts_at:%Y-%m-%d %H:%M} to {window.ends_at:%Y-%m-%d %H:%M} UTC"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(HealthAlarm)
class HealthAlarmAdmin(ReadOnlyAdmin):
    list_display = ["opened_at", "kind", "subject_name", "detail", "cleared_at", "state", "acknowledged_by"]
    list_filter = ["kind", "state"]
    date_hierarchy = "opened_at"


@admin.register(CalibrationCertificate)
class CalibrationCertificateAdmin(admin.ModelAdmin):
    list_display = ["certificate_number", "scope", "laboratory", "calibrated_on", "due_on", "due", "pdf"]
    search_fields = ["certificate_number", "laboratory", "channel__device__name", "device__name"]
    autocomplete_fields = ["channel", "device"]
    date_hierarchy = "due_on"
    readonly_fields = ["reminded_at", "created_at"]

    @admin.display(description="For")
    def scope(self, certificate: CalibrationCertificate) -> str:
        return str(certificate.channel or certificate.device)

    @admin.display(description="Due")
    def due(self, certificate: CalibrationCertificate) -> str:
        days = (certificate.due_on - timezone.localdate()).days
        return f"overdue by {-days} days" if days < 0 else f"in {days} days"

    @admin.display(description="Certificate")
    def pdf(self, certificate: CalibrationCertificate) -> str:
        if not certificate.file:
            return "—"
        return format_html(
            '<a href="{}">PDF</a>', reverse("calibration_certificate_file", args=[certificate.pk])
        )
