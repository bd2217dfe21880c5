"""An excursion report asked for on the pages: built by a Celery worker, kept for a while, then deleted.

The file lives in the row (``content``): the web and the worker may run on machines that share only the
database, and a report's size is bounded (``EXCURSION_REPORT_MAX_EXCURSIONS``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from monitoring.choices import ReportFormat, ReportState


class ExcursionReportFile(models.Model):
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    start = models.DateTimeField()
    end = models.DateTimeField(help_text="Not included.")
    group = models.ForeignKey(
        "monitoring.DeploymentGroup", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    format = models.CharField(max_length=3, choices=ReportFormat.choices, default=ReportFormat.PDF)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        help_text="The requester's zone when asked: the report's times are in it.",
    )
    state = models.CharField(max_length=8, choices=ReportState.choices, default=ReportState.QUEUED)
    excursions_done = models.PositiveIntegerField(default=0)
    excursions_total = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    content = models.BinaryField(null=True, editable=False)
    size = models.PositiveIntegerField(default=0, help_text="Bytes.")
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(help_text="Deleted after this (EXCURSION_REPORT_KEEP_HOURS).")

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("download_any_excursionreportfile", "Can download reports requested by others")]
        indexes = [models.Index(fields=["expires_at"]), models.Index(fields=["requested_by", "state"])]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_state_display().lower()})"

    @property
    def finished(self) -> bool:
        return self.state in (ReportState.DONE, ReportState.FAILED)

    @property
    def filename(self) -> str:
        stem = f"excursion-report-{self.start:%Y%m%d}-{self.end:%Y%m%d}"
        if self.format == ReportFormat.SIGNATURES:
            return f"{stem}-signatures.csv"
        readings = "-readings" if self.format == ReportFormat.CSV else ""
        return f"{stem}{readings}.{self.format}"

    @property
    def content_type(self) -> str:
        return "application/pdf" if self.format == ReportFormat.PDF else "text/csv; charset=utf-8"
