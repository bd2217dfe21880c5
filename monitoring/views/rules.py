"""The alarm rules page, for Admin users: the rules and a form to add or change one; a rule's page shows
its versions (each change makes one: ``monitoring/models/rule_versions.py``)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from monitoring.audit import audit_context
from monitoring.choices import Quantity
from monitoring.forms import PlainSelect
from monitoring.models import AlarmRule

SCOPES = ["channel", "device", "group", "profile"]


# The unit of the limits, by quantity (another quantity's limits are in its channel's unit).
LIMIT_UNITS = {Quantity.TEMPERATURE: "°C", Quantity.HUMIDITY: "% RH", Quantity.OTHER: "channel's unit"}


class AlarmRuleForm(forms.ModelForm):
    reason = forms.CharField(
        required=True,
        label="Reason for the change",
        widget=forms.TextInput,
        help_text="Kept in the audit trail.",
    )

    # How the form is laid out: sections of fields, each number with its unit.
    SECTIONS = [
        ("The rule", ["name", "quantity", "severity", "enabled"]),
        ("Applies to (choose one)", SCOPES),
        ("Limits", ["low_limit", "high_limit", "clear_margin", "delay_minutes"]),
        ("Other checks", ["daily_budget_minutes", "no_data_minutes", "activation_energy"]),
        ("Who is told", ["recipients", "reminder_minutes", "escalation_recipients"]),
        ("The change", ["reason"]),
    ]
    UNITS = {
        "delay_minutes": "min",
        "daily_budget_minutes": "min a day",
        "no_data_minutes": "min",
        "reminder_minutes": "min",
        "activation_energy": "kJ/mol",
    }
    LIMIT_FIELDS = ("low_limit", "high_limit", "clear_margin")
    WIDE = ("recipients", "escalation_recipients", "reason")

    class Meta:
        model = AlarmRule
        fields = [
            "name",
            "quantity",
            *SCOPES,
            "low_limit",
            "high_limit",
            "delay_minutes",
            "clear_margin",
            "daily_budget_minutes",
            "no_data_minutes",
            "severity",
            "activation_energy",
            "recipients",
            "reminder_minutes",
            "escalation_recipients",
            "enabled",
        ]
        labels = {
            "low_limit": "Low limit",
            "high_limit": "High limit",
            "clear_margin": "Clear margin (hysteresis)",
            "delay_minutes": "Delay before it opens",
            "daily_budget_minutes": "Daily budget out of range",
            "no_data_minutes": "No data after",
            "activation_energy": "Activation energy (MKT)",
            "reminder_minutes": "Remind and escalate after",
        }
        widgets = {
            "recipients": forms.Textarea(attrs={"rows": 2}),
            "escalation_recipients": forms.Textarea(attrs={"rows": 2}),
            # Thousands of channels and devices: their options written out directly.
            "channel": PlainSelect,
            "device": PlainSelect,
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The page's script changes the limits' unit when the quantity changes.
        self.fields["quantity"].widget.attrs["data-limit-units"] = json.dumps(LIMIT_UNITS)
        # A channel's choice is named with its device's name: one query, not one a channel (2,000 at
        # 1,000 devices took the page two seconds).
        self.fields["channel"].queryset = self.fields["channel"].queryset.select_related("device")

    def validate_constraints(self):
        # The database's check says "choose one scope" as a constraint name: ``clean`` has said it in words.
        if "__all__" not in self._errors:
            super().validate_constraints()

    def limit_unit(self) -> str:
        quantity = self["quantity"].value() or Quantity.TEMPERATURE
        return LIMIT_UNITS.get(quantity, LIMIT_UNITS[Quantity.OTHER])

    def sections(self):
        """(title, [(bound field, unit, whether the unit follows the quantity)]) for the template."""
        limit_unit = self.limit_unit()
        return [
            (
                title,
                [
                    (
                        self[name],
                        limit_unit if name in self.LIMIT_FIELDS else self.UNITS.get(name, ""),
                        name in self.LIMIT_FIELDS,
                    )
                    for name in names
                ],
            )
            for title, names in self.SECTIONS
        ]

    def clean(self):
        data = super().clean()
        chosen = [scope for scope in SCOPES if data.get(scope)]
        if len(chosen) != 1:
            raise forms.ValidationError("Choose exactly one of: channel, device, group, profile.")
        if data.get("quantity") == Quantity.OTHER and not data.get("channel"):
            # Limits of kWh, V or ppm mean nothing without the unit: one channel, one unit.
            raise forms.ValidationError("A rule for another quantity must name its channel.")
        low, high = data.get("low_limit"), data.get("high_limit")
        if low is None and high is None:
            raise forms.ValidationError("Give a low limit, a high limit or both.")
        if low is not None and high is not None and low >= high:
            raise forms.ValidationError("The low limit must be below the high limit.")
        return data


def _rules() -> list[AlarmRule]:
    rules = list(AlarmRule.objects.select_related("channel__device", "device", "group", "profile"))
    for rule in rules:
        # Another quantity's limits are in its channel's unit (such a rule always names its channel).
        rule.limit_unit = (
            rule.channel.get_unit_display()
            if rule.quantity == Quantity.OTHER and rule.channel
            else LIMIT_UNITS.get(rule.quantity, "")
        )
    return rules


@require_http_methods(["GET", "POST"])
@permission_required("monitoring.change_alarmrule", raise_exception=True)
def rules(request):
    form = AlarmRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with audit_context(user=request.user, reason=form.cleaned_data["reason"]):
            rule = form.save()
        messages.success(request, f"Rule “{rule.name}” added.")
        return _to_rules(request)
    status = 400 if request.method == "POST" else 200
    context = {"rules": _rules(), "form": form, "action": reverse("rules"), "button": "Add the rule"}
    return render(request, _template(request, "monitoring/rules.html"), context, status=status)


def _template(request, page: str) -> str:
    # A refused form posted by htmx: only the form again, with its errors, in place.
    return "monitoring/_rule_form.html" if request.htmx and request.method == "POST" else page


def _to_rules(request):
    return HttpResponseClientRedirect(reverse("rules")) if request.htmx else redirect("rules")


@require_http_methods(["GET", "POST"])
@permission_required("monitoring.change_alarmrule", raise_exception=True)
def rule_edit(request, pk: int):
    rule = get_object_or_404(AlarmRule, pk=pk)
    form = AlarmRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        with audit_context(user=request.user, reason=form.cleaned_data["reason"]):
            form.save()
        messages.success(request, f"Rule “{rule.name}” changed.")
        return _to_rules(request)
    status = 400 if request.method == "POST" else 200
    context = {
        "rule": rule,
        "form": form,
        "action": reverse("rule_edit", args=[rule.pk]),
        "button": "Save",
        "cancel": True,
        "versions": rule.versions.order_by("-number"),
    }
    return render(request, _template(request, "monitoring/rule_edit.html"), context, status=status)
