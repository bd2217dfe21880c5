"""Admin for vendor accounts. Credentials are write-only: never rendered back, a field replaces them."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from monitoring.models.audit import purge_allowed
from vendors.models import VendorAccount
from vendors.registry import client_class


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never shows its value again, not even after a validation error: what
    ``PasswordInput(render_value=False)`` does, for several key=value lines."""

    def format_value(self, value):
        return None


class VendorAccountForm(forms.ModelForm):
    new_credentials = forms.CharField(
        required=False,
        widget=WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        label="Replace credentials",
        help_text=(
            "One key=value per line, e.g. api_key=... Leave empty to keep the stored credentials. "
            "Stored credentials are encrypted and never shown."
        ),
    )

    class Meta:
        model = VendorAccount
        fields = [
            "vendor",
            "name",
            "base_url",
            "timezone",
            "response_format",
            "enabled",
            "sync_interval",
            "next_sync_at",
            "backfill_days",
            "needs_attention",
        ]

    def clean(self):
        cleaned = super().clean()
        vendor = cleaned.get("vendor")
        text = cleaned.get("new_credentials", "")
        if not vendor:
            return cleaned
        fields = client_class(vendor).credential_fields
        if text.strip():
            values = {}
            for line in text.splitlines():
                if not line.strip():
                    continue
                key, sep, value = line.strip().partition("=")
                if not sep:
                    self.add_error("new_credentials", "Write one key=value per line.")
                    return cleaned
                if key not in fields:
                    self.add_error(
                        "new_credentials", f"Unknown key {key!r}; {vendor} needs: {', '.join(fields)}."
                    )
                    return cleaned
                values[key] = value
            missing = [f for f in fields if not values.get(f)]
            if missing:
                self.add_error("new_credentials", f"Missing: {', '.join(missing)}.")
            cleaned["credentials"] = values
        elif not self.instance.pk or not self.instance.credentials:
            self.add_error(
                "new_credentials", f"{vendor} needs: {', '.join(fields)} (one key=value per line)."
            )
        return cleaned

    def save(self, commit=True):
        account = super().save(commit=False)
        if self.cleaned_data.get("credentials"):
            account.credentials = self.cleaned_data["credentials"]
            account.session = {}  # tokens of old credentials are worthless
            account.needs_attention = False
        if commit:
            account.save()
        return account


@admin.register(VendorAccount)
class VendorAccountAdmin(admin.ModelAdmin):
    form = VendorAccountForm
    list_display = ["name", "vendor", "enabled", "health", "last_success_at", "consecutive_failures"]
    list_filter = ["vendor", "enabled", "needs_attention"]
    search_fields = ["name"]
    readonly_fields = [
        "stored_credentials",
        "last_sync_started_at",
        "last_success_at",
        "last_error",
        "last_error_at",
        "consecutive_failures",
    ]
    fieldsets = [
        (None, {"fields": ["vendor", "name", "base_url", "timezone", "response_format", "enabled"]}),
        ("Credentials", {"fields": ["stored_credentials", "new_credentials"]}),
        ("Schedule", {"fields": ["sync_interval", "next_sync_at", "backfill_days"]}),
        (
            "Health",
            {
                "fields": [
                    "needs_attention",
                    "last_sync_started_at",
                    "last_success_at",
                    "last_error",
                    "last_error_at",
                    "consecutive_failures",
                ]
            },
        ),
    ]

    def delete_model(self, request, obj):
        # Removing an account removes its readings: an explicit purge of permanent records.
        with purge_allowed():
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with purge_allowed():
            super().delete_queryset(request, queryset)

    @admin.display(description="Stored credentials")
    def stored_credentials(self, account: VendorAccount) -> str:
        keys = sorted(account.credentials) if account.pk else []
        return ("Set: " + ", ".join(keys) + " (values hidden)") if keys else "None"
