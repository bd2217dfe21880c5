"""Who gets the scheduled excursion report, and which emails were sent (so none is sent twice)."""

from __future__ import annotations

from django.db import models

from coldchain.audit_triggers import AuditTrigger
from monitoring.choices import ReportFrequency


class ReportSubscription(models.Model):
    name = models.CharField(max_length=100)
    recipients = models.TextField(help_text="Emails, one per line.")
    frequency = models.CharField(
        max_length=10, choices=ReportFrequency.choices, default=ReportFrequency.DAILY
    )
    group = models.ForeignKey(
        "monitoring.DeploymentGroup",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="report_subscriptions",
        help_text="Blank: every group.",
    )
    enabled = models.BooleanField(default=True)
    last_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        triggers = [AuditTrigger(ignored=["last_sent_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def recipient_list(self) -> list[str]:
        return [line.strip() for line in self.recipients.splitlines() if line.strip()]


class SentNotification(models.Model):
    """One email sent: what about, to whom. ``key`` makes each notice unique (e.g. "opened:42")."""

    key = models.CharField(max_length=200, unique=True)
    recipients = models.TextField()
    subject = models.CharField(max_length=300)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"{self.key} at {self.sent_at:%Y-%m-%d %H:%M}"
