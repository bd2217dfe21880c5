"""Alarm rules and the excursions they find."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from coldchain.audit_triggers import AuditTrigger
from monitoring.choices import Disposition, ExcursionKind, ExcursionState, ProductImpact, Quantity, Severity
from monitoring.models.permanence import permanent_record_triggers
from monitoring.models.rule_versions import new_version_trigger, version_in_force_trigger

DEFAULT_ACTIVATION_ENERGY = 83.144  # kJ/mol, USP <1160>


class AlarmProfile(models.Model):
    """A named set of rules ("2–8 °C vaccines") that devices can be given."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]
        triggers = [AuditTrigger()]

    def __str__(self) -> str:
        return self.name


class AlarmRule(models.Model):
    """Limits for one quantity, attached to exactly one of: a channel, a device, a deployment group or a
    profile. For a channel the nearest rule wins: channel, then device, then group, then the device's
    profile."""

    name = models.CharField(max_length=100)
    quantity = models.CharField(max_length=12, choices=Quantity.choices, default=Quantity.TEMPERATURE)
    channel = models.ForeignKey(
        "monitoring.Channel", null=True, blank=True, on_delete=models.CASCADE, related_name="alarm_rules"
    )
    device = models.ForeignKey(
        "monitoring.Device", null=True, blank=True, on_delete=models.CASCADE, related_name="alarm_rules"
    )
    group = models.ForeignKey(
        "monitoring.DeploymentGroup",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alarm_rules",
    )
    profile = models.ForeignKey(
        AlarmProfile, null=True, blank=True, on_delete=models.CASCADE, related_name="alarm_rules"
    )
    low_limit = models.FloatField(null=True, blank=True)
    high_limit = models.FloatField(null=True, blank=True)
    delay_minutes = models.PositiveIntegerField(
        default=0, help_text="Minutes continuously out of range before an excursion opens."
    )
    clear_margin = models.FloatField(
        default=0.0, help_text="Hysteresis: the value must come this far back inside the limits to clear."
    )
    daily_budget_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Minutes out of range allowed per day before an excursion opens."
    )
    no_data_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="No reading for this many minutes opens a no-data excursion."
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.ALARM)
    activation_energy = models.FloatField(
        default=DEFAULT_ACTIVATION_ENERGY, help_text="ΔH for the mean kinetic temperature, kJ/mol."
    )
    recipients = models.TextField(blank=True, help_text="Emails told when an excursion opens, one per line.")
    reminder_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Remind (and escalate) when unacknowledged this long."
    )
    escalation_recipients = models.TextField(
        blank=True, help_text="Emails told when a reminder goes unheeded."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(
                        channel__isnull=False, device__isnull=True, group__isnull=True, profile__isnull=True
                    )
                    | models.Q(
                        channel__isnull=True, device__isnull=False, group__isnull=True, profile__isnull=True
                    )
                    | models.Q(
                        channel__isnull=True, device__isnull=True, group__isnull=False, profile__isnull=True
                    )
                    | models.Q(
                        channel__isnull=True, device__isnull=True, group__isnull=True, profile__isnull=False
                    )
                ),
                name="alarm_rule_has_exactly_one_scope",
            ),
        ]
        triggers = [AuditTrigger(), new_version_trigger()]

    def __str__(self) -> str:
        return self.name


class Excursion(models.Model):
    channel = models.ForeignKey("monitoring.Channel", on_delete=models.PROTECT, related_name="excursions")
    rule = models.ForeignKey(AlarmRule, null=True, on_delete=models.SET_NULL, related_name="excursions")
    # The rule's version in force when it opened (set by PostgreSQL at INSERT: models/rule_versions.py).
    rule_version = models.ForeignKey(
        "monitoring.AlarmRuleVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=12, choices=ExcursionKind.choices, default=ExcursionKind.OUT_OF_RANGE)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.ALARM)
    # The limits in force when it was found (rules may change later).
    low_limit = models.FloatField(null=True, blank=True)
    high_limit = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Empty while ongoing.")
    peak_value = models.FloatField(null=True, blank=True)
    peak_at = models.DateTimeField(null=True, blank=True)
    degree_minutes = models.FloatField(default=0.0, help_text="Degree-minutes (or %RH-minutes) out of range.")
    mkt = models.FloatField(
        null=True, blank=True, help_text="Mean kinetic temperature over the excursion, °C."
    )
    state = models.CharField(max_length=16, choices=ExcursionState.choices, default=ExcursionState.OPEN)
    # 1, then one more at each reopening: signatures of an earlier cycle belong to a closing since undone.
    cycle = models.PositiveIntegerField(default=1)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledgement_comment = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who investigates it.",
    )
    investigation_started_at = models.DateTimeField(null=True, blank=True)
    disposition = models.CharField(max_length=20, choices=Disposition.choices, blank=True)
    root_cause = models.TextField(blank=True)
    product_impact = models.CharField(max_length=16, choices=ProductImpact.choices, blank=True)
    approval_required = models.BooleanField(
        default=False, help_text="Set at closing (EXCURSION_APPROVAL_REQUIRED): the closing awaits approval."
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at"]
        permissions = [
            ("acknowledge_excursion", "Can acknowledge excursions"),
            ("close_excursion", "Can close excursions"),
            ("approve_excursion", "Can approve the closing of excursions"),
        ]
        indexes = [
            models.Index(fields=["channel", "started_at"]),
            models.Index(fields=["state", "started_at"]),
        ]
        triggers = [
            AuditTrigger(
                ignored=["created_at"],
                shown="'Excursion ' || (row_data->>'id') || ' from '"
                " || replace(left(row_data->>'started_at', 16), 'T', ' ') || ' UTC'",
            ),
            version_in_force_trigger(),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.channel} from {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration(self):
        return (self.ended_at - self.started_at) if self.ended_at else None


class ExcursionNote(models.Model):
    """A note of the investigation: written once, audited, signed ("Investigated")."""

    excursion = models.ForeignKey(Excursion, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        triggers = [
            *permanent_record_triggers(),
            AuditTrigger(
                shown="'Note ' || (row_data->>'id') || ' on excursion ' || (row_data->>'excursion_id')"
            ),
        ]

    def __str__(self) -> str:
        return f"Note {self.pk} on excursion {self.excursion_id}"


class ExcursionSignature(models.Model):
    """An electronic signature (21 CFR Part 11): who, when, and what it means (11.50), linked to the
    content it signed by a SHA-256 of that content (11.70; ``monitoring.signature_records``)."""

    excursion = models.ForeignKey(Excursion, on_delete=models.PROTECT, related_name="signatures")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    full_name = models.CharField(max_length=300)
    meaning = models.CharField(max_length=100, help_text='e.g. "Acknowledged", "Closed: no product impact"')
    signed_at = models.DateTimeField()
    # What was signed: the state the signing put the excursion in, its cycle, the note (for a note).
    state = models.CharField(max_length=16, choices=ExcursionState.choices, blank=True)
    cycle = models.PositiveIntegerField(default=1)
    note = models.ForeignKey(
        ExcursionNote, null=True, blank=True, on_delete=models.PROTECT, related_name="signatures"
    )
    content_hash = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the signed content; empty for signatures made before.",
    )

    class Meta:
        ordering = ["signed_at"]
        triggers = [
            *permanent_record_triggers(),
            AuditTrigger(shown="(row_data->>'full_name') || ': ' || (row_data->>'meaning')"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name}: {self.meaning} at {self.signed_at:%Y-%m-%d %H:%M}"
