"""Celery tasks of alarm handling, on the notifications queue. Their arguments are ids and times, never a
secret. ``now`` (ISO 8601) lets a test or an operator run them as of another time."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task

from alarms import escalation


def _when(now: str | None) -> datetime | None:
    return datetime.fromisoformat(now) if now else None


@shared_task(name="alarms.tasks.run_escalations")
def run_escalations(now: str | None = None) -> int:
    return escalation.run_escalations(_when(now))


@shared_task(name="alarms.tasks.notify_back_in_range")
def notify_back_in_range(excursion_id: int) -> int:
    return escalation.notify_back_in_range(excursion_id)
