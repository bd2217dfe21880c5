"""Excursion reports asked for on the pages: requested in the web request, built by a Celery worker.

A report of a busy period is hundreds of charts (most of a second each): built inside the request it held
a web worker for minutes and timed out. Now the request only checks the size (``count_excursions``,
bounded by ``EXCURSION_REPORT_MAX_EXCURSIONS``), stores an ``ExcursionReportFile`` row and queues
``build_excursion_report``; the page polls the row's progress and offers the file when it is ready. Only
the user who asked and administrators may fetch it; it is deleted ``EXCURSION_REPORT_KEEP_HOURS`` later by
a beat task. The scheduled emails and ``manage.py excursion_report`` build their reports themselves, as
before (they run in a worker or a shell, not in a web request).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from monitoring import reports
from monitoring.choices import ReportFormat, ReportState
from monitoring.models import DeploymentGroup, ExcursionReportFile
from monitoring.signature_records import signatures_csv

logger = logging.getLogger("monitoring.report_files")

# Reports one user may have waiting or being built at once: a user cannot fill the workers' queue.
IN_PROGRESS_PER_USER = 3
# How often the worker writes its progress to the row (seconds).
PROGRESS_EVERY = 1.0
DOWNLOAD_ANY = "monitoring.download_any_excursionreportfile"


def too_many_excursions_message(count: int) -> str:
    limit = settings.EXCURSION_REPORT_MAX_EXCURSIONS
    return (
        f"This period has {count} excursions; a report holds at most {limit}. Narrow the range, or choose "
        "a group, and ask again."
    )


def request_report(
    user, start: datetime, end: datetime, group: DeploymentGroup | None, report_format: str
) -> ExcursionReportFile:
    """Store the request and queue its building (once the row is committed). Raises ``ValidationError``
    with a message for the user if the report would be too large or the user has too many waiting."""
    count = reports.count_excursions(start, end, group)
    if count > settings.EXCURSION_REPORT_MAX_EXCURSIONS:
        raise ValidationError(too_many_excursions_message(count), code="too_large")
    waiting = ExcursionReportFile.objects.filter(
        requested_by=user, state__in=[ReportState.QUEUED, ReportState.RUNNING], expires_at__gt=timezone.now()
    )
    if waiting.count() >= IN_PROGRESS_PER_USER:
        raise ValidationError(
            f"You already have {IN_PROGRESS_PER_USER} reports being built: wait for one to finish.",
            code="busy",
        )
    report = ExcursionReportFile.objects.create(
        requested_by=user,
        start=start,
        end=end,
        group=group,
        format=report_format,
        time_zone=timezone.get_current_timezone_name(),  # the requester's: the report's times are in it
        excursions_total=count,
        expires_at=timezone.now() + timedelta(hours=settings.EXCURSION_REPORT_KEEP_HOURS),
    )
    from monitoring.tasks import build_excursion_report

    # Only the row's id travels to the worker.
    transaction.on_commit(lambda: build_excursion_report.delay(report.pk))
    return report


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def build(report_id: int) -> str:
    """Build the report of this row (the Celery task). Safe to run twice: a finished row is left alone,
    and a row whose worker died is built again from the start. Returns the row's final state."""
    claimed = ExcursionReportFile.objects.filter(
        pk=report_id, state__in=[ReportState.QUEUED, ReportState.RUNNING]
    ).update(state=ReportState.RUNNING, excursions_done=0)
    row = ExcursionReportFile.objects.defer("content").filter(pk=report_id).first()
    if not claimed or row is None:
        return row.state if row else "deleted"
    rows = ExcursionReportFile.objects.filter(pk=report_id)
    try:
        count = reports.count_excursions(row.start, row.end, row.group)
        if count > settings.EXCURSION_REPORT_MAX_EXCURSIONS:  # more excursions since it was asked for
            rows.update(state=ReportState.FAILED, error=too_many_excursions_message(count)[:300])
            return ReportState.FAILED
        rows.update(excursions_total=count)
        last_written = time.monotonic()

        def progress(done: int, total: int) -> None:
            nonlocal last_written
            if time.monotonic() - last_written >= PROGRESS_EVERY or done == total:
                rows.update(excursions_done=done, excursions_total=total)
                last_written = time.monotonic()

        pdf = row.format == ReportFormat.PDF
        report = reports.build_report(
            row.start, row.end, row.group, charts=pdf, progress=progress, zone=_zone(row.time_zone)
        )
        if pdf:
            content = reports.render_pdf(report)
        elif row.format == ReportFormat.SIGNATURES:
            content = signatures_csv(item.excursion for item in report.items)
        else:
            content = reports.render_csv(report)
    except SoftTimeLimitExceeded:
        rows.update(state=ReportState.FAILED, error="It took too long: narrow the range and ask again.")
        return ReportState.FAILED
    except Exception:
        logger.exception("the excursion report %s could not be built", report_id)
        rows.update(state=ReportState.FAILED, error="It could not be built (the error is in the logs).")
        return ReportState.FAILED
    now = timezone.now()
    rows.update(
        state=ReportState.DONE,
        content=content,
        size=len(content),
        excursions_done=len(report.items),
        excursions_total=len(report.items),
        finished_at=now,
        expires_at=now + timedelta(hours=settings.EXCURSION_REPORT_KEEP_HOURS),
    )
    return ReportState.DONE


def may_fetch(user, report: ExcursionReportFile) -> bool:
    """Its requester, and administrators."""
    return report.requested_by_id == user.pk or user.has_perm(DOWNLOAD_ANY)


def recent_reports(user, limit: int = 10):
    """The user's reports still kept, newest first (without their files)."""
    return (
        ExcursionReportFile.objects.filter(requested_by=user, expires_at__gt=timezone.now())
        .select_related("group")
        .defer("content")[:limit]
    )


def delete_expired_reports(now: datetime | None = None) -> int:
    """Delete the reports kept long enough (their files with them); also rows whose task never ran."""
    deleted, _ = ExcursionReportFile.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
