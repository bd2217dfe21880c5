"""The alarm rules page, for Admin users: the rules and a form to add or change one; a rule's page shows
its versions (each change makes one: ``monitoring/models/rule_versions.py``)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from monitoring.audit import audit_context
from monitoring.choices import Quantity
from monitoring.models import AlarmRule

SCOPES = ["channel", "device", "group", "profile"]


class AlarmRuleForm(forms.ModelForm):
    reason = forms.CharField(
        required=True, widget=forms.TextInput, help_text="Why this change (kept in the audit trail)."
    )

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


def _rules():
    return AlarmRule.objects.select_related("channel__device", "device", "group", "profile")


@require_http_methods(["GET", "POST"])
@permission_required("monitoring.change_alarmrule", raise_exception=True)
def rules(request):
    form = AlarmRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with audit_context(user=request.user, reason=form.cleaned_data["reason"]):
            rule = form.save()
        messages.success(request, f"Rule “{rule.name}” added.")
        return redirect("rules")
    status = 400 if request.method == "POST" else 200
    return render(request, "monitoring/rules.html", {"rules": _rules(), "form": form}, status=status)


@require_http_methods(["GET", "POST"])
@permission_required("monitoring.change_alarmrule", raise_exception=True)
def rule_edit(request, pk: int):
    rule = get_object_or_404(AlarmRule, pk=pk)
    form = AlarmRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        with audit_context(user=request.user, reason=form.cleaned_data["reason"]):
            form.save()
        messages.success(request, f"Rule “{rule.name}” changed.")
        return redirect("rules")
    status = 400 if request.method == "POST" else 200
    context = {"rule": rule, "form": form, "versions": rule.versions.order_by("-number")}
    return render(request, "monitoring/rule_edit.html", context, status=status)
