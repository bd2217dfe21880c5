"""Admin of alarm handling: escalation policies with their levels, on-call rotas with their shifts,
notification channels (the Apprise URL is write-only, like vendor credentials) and the log of notices."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from alarms import channels as channel_service
from alarms.models import (
    EscalationLevel,
    EscalationPolicy,
    Notification,
    NotificationChannel,
    OnCallRota,
    OnCallShift,
)


class EscalationLevelInline(admin.StackedInline):
    model = EscalationLevel
    extra = 0
    fields = ["position", "delay_minutes", "users", "groups", "rota", "channels"]
    filter_horizontal = ["users", "groups", "channels"]


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "repeat_minutes", "level_count"]
    search_fields = ["name"]
    filter_horizontal = ["devices", "groups", "profiles"]
    inlines = [EscalationLevelInline]
    fieldsets = [
        (None, {"fields": ["name", "description", "enabled", "repeat_minutes"]}),
        (
            "Applies to (a device's own policy first, then its group's, then its profile's)",
            {"fields": ["devices", "groups", "profiles"]},
        ),
        ("Quiet hours for warnings", {"fields": ["time_zone", "quiet_hours_start", "quiet_hours_end"]}),
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
class NotificationAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
