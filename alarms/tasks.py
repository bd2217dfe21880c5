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


@shared_task(name="alarms.tasks.retry_level", bind=True, max_retries=None)
def retry_level(self, escalation_id: int, step: int) -> int:
    """The targets of an escalation's step that no route reached, tried again (scheduled with the first
    of ALARM_DELIVERY_RETRY_SECONDS as countdown); again after each next one while some stay unreached.
    The worker is free between tries."""
    left = escalation.resend_level(escalation_id, step)
    if left:
        _again(self, left)
    return len(left)


@shared_task(name="alarms.tasks.notify_back_in_range", bind=True, max_retries=None)
def notify_back_in_range(self, excursion_id: int) -> int:
    """Back in range to everyone the excursion reached; those no route reached, again after each of
    ALARM_DELIVERY_RETRY_SECONDS (a re-scheduled task: the worker never waits in place)."""
    from alarms.delivery import unreached

    reached = escalation.notify_back_in_range(excursion_id)
    left = unreached(f"excursion:{excursion_id}:back")
    if left:
        _again(self, left, first=False)
    return reached


def _again(task, left: list[str], first: bool = True) -> None:
    """Schedule the task once more after the next back-off, when one is left. ``first``: the task's first
    run was itself the first retry (``retry_level``), so the next back-off is one further along."""
    from alarms.delivery import retry_delays

    delays = retry_delays()
    attempt = task.request.retries + (1 if first else 0)
    if attempt < len(delays):
        raise task.retry(countdown=delays[attempt])


@shared_task(name="alarms.tasks.deliver_webhook", bind=True, max_retries=None)
def deliver_webhook(self, delivery_id: int) -> str:
    """One try; a refusal is tried again after each of WEBHOOK_RETRY_SECONDS, then marked failed."""
    from django.conf import settings

    from alarms import webhooks
    from alarms.models import DeliveryStatus, WebhookDelivery

    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return "nothing to do"
    if webhooks.send(delivery):
        return "delivered"
    delays = list(settings.WEBHOOK_RETRY_SECONDS)
    if delivery.attempts <= len(delays):
        raise self.retry(countdown=delays[delivery.attempts - 1])
    webhooks.give_up(delivery)
    return "failed"


@shared_task(name="alarms.tasks.queue_stuck_webhooks")
def queue_stuck_webhooks() -> int:
    from alarms import webhooks

    return webhooks.queue_stuck_deliveries()


@shared_task(name="alarms.tasks.check_device_health")
def check_device_health(now: str | None = None) -> list[int]:
    from alarms import health

    return list(health.check_device_health(_when(now)))


@shared_task(name="alarms.tasks.remind_calibrations")
def remind_calibrations(now: str | None = None) -> int:
    from alarms import calibration

    return calibration.remind_calibrations(_when(now))
