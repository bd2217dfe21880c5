"""The hooks on excursions: opened -> an escalation starts; acknowledged or closed -> it stops in the same
transaction; ended -> a "back in range" notice; opened, acknowledged, closed -> the signed webhooks.
Listening to the model keeps the excursion engine free of alarm handling: whatever opens or changes an
excursion (ingest, the no-data task, the pages) is covered.

The notices themselves go out from the notifications queue after the commit (``alarms.tasks``); a
broker that cannot be reached only delays them to the next beat (``run_escalations``, every minute)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_save, pre_save

from alarms.models import WebhookEvent
from monitoring.models import Excursion
from monitoring.models.excursions import ExcursionState

STATE_EVENTS = {
    ExcursionState.ACKNOWLEDGED: WebhookEvent.ACKNOWLEDGED,
    ExcursionState.CLOSED: WebhookEvent.CLOSED,
}

logger = logging.getLogger("alarms.signals")


def _queue(task, *args) -> None:
    def send() -> None:
        try:
            task.delay(*args)
        except Exception:
            logger.exception("could not queue %s: the next beat will do it", task.name)

    transaction.on_commit(send)


def _before_save(sender, instance: Excursion, raw=False, update_fields=None, **kwargs) -> None:
    instance._alarms_before = None
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not {"state", "ended_at"} & set(update_fields):
        return
    instance._alarms_before = Excursion.objects.filter(pk=instance.pk).values("state", "ended_at").first()


def _after_save(sender, instance: Excursion, created: bool, raw=False, **kwargs) -> None:
    from alarms import escalation, suppression, tasks, webhooks

    if raw:
        return
    if created:
        # Inside a suppression window: no escalation until the window's end, no webhook (suppression.py).
        suppressed = suppression.suppress_if_inside(instance) is not None
        if instance.state == ExcursionState.OPEN:
            started = escalation.start(instance, waiting=suppressed)
            if started is not None and not suppressed:
                _queue(tasks.run_escalations)
        if not suppressed:
            webhooks.excursion_event(instance, WebhookEvent.OPENED)
        return
    before = getattr(instance, "_alarms_before", None)
    if not before:
        return
    if before["state"] == ExcursionState.OPEN and instance.state != ExcursionState.OPEN:
        escalation.stop(instance, instance.state)
    if before["state"] != instance.state and instance.state in STATE_EVENTS:
        if not suppression.is_suppressed(instance):
            webhooks.excursion_event(instance, STATE_EVENTS[instance.state])
    if before["ended_at"] is None and instance.ended_at is not None:
        _queue(tasks.notify_back_in_range, instance.pk)


def connect() -> None:
    pre_save.connect(_before_save, sender=Excursion, dispatch_uid="alarms-excursion-pre")
    post_save.connect(_after_save, sender=Excursion, dispatch_uid="alarms-excursion-post")
