"""Celery tasks of the excursion work; beat starts them (schedules in migration 0006, editable in the
admin). Each calls the same service as the commands and is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from monitoring import excursions, notifications, partitions, report_files, reports


@shared_task(name="monitoring.tasks.evaluate_readings")
def evaluate_readings() -> int:
    """Each minute: every channel whose readings are ahead of its evaluation watermark (what a crash left
    unevaluated; normally none, the ingest's own evaluation got there first)."""
    return len(excursions.evaluate_readings())


@shared_task(name="monitoring.tasks.open_no_data_excursions")
def open_no_data_excursions() -> int:
    return len(excursions.open_no_data_excursions())


@shared_task(name="monitoring.tasks.send_excursion_reminders")
def send_excursion_reminders() -> int:
    return notifications.send_reminders()


@shared_task(name="monitoring.tasks.notify_accounts")
def notify_accounts() -> int:
    return notifications.notify_accounts_needing_attention()


@shared_task(name="monitoring.tasks.send_excursion_reports")
def send_excursion_reports(frequency: str = "daily") -> int:
    return reports.send_subscribed_reports(frequency)


# A report of EXCURSION_REPORT_MAX_EXCURSIONS charts can take minutes on a busy machine: more than the
# default limit of other tasks (still well under the broker's visibility timeout).
@shared_task(name="monitoring.tasks.build_excursion_report", soft_time_limit=1800, time_limit=1860)
def build_excursion_report(report_id: int) -> str:
    return report_files.build(report_id)


@shared_task(name="monitoring.tasks.delete_expired_reports")
def delete_expired_reports() -> int:
    return report_files.delete_expired_reports()


@shared_task(name="monitoring.tasks.maintain_partitions")
def maintain_partitions() -> dict:
    """Hourly: the next months' partitions of readings and positions, and a warning about stray rows."""
    return partitions.maintain_partitions()


# A month of a large installation holds hundreds of millions of rows: written, read back and compared in
# minutes, but more than other tasks' limit (and under the broker's visibility timeout; a second delivery
# would find the month locked by the first).
@shared_task(name="monitoring.tasks.archive_month", soft_time_limit=3300, time_limit=3500)
def archive_month(table: str, month: str, user_id: int | None = None) -> str:
    """One month of one table archived, verified and detached (started from the admin's action)."""
    from datetime import date

    from django.contrib.auth import get_user_model

    from monitoring import archive

    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    entry = archive.archive_month(table, date.fromisoformat(month), user=user)
    return str(entry)
