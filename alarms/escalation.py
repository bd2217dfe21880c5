"""Escalation until acknowledged.

An excursion whose device has an escalation policy (naming the device, else its deployment group, else
its alarm profile; the oldest policy when two name the same) gets an ``Escalation`` when it opens: level
1 fires after its delay, each next level after its own delay, then the last level again every
``repeat_minutes`` until the excursion is acknowledged. The policy replaces the rule's own emails (its
recipients, reminder and escalation) for that excursion.

- Acknowledging (or closing) stops the escalation in the same transaction (``stop``), and a level that
  is going out checks before each recipient that the excursion is still open.
- Severity "warning" waits for the end of the policy's quiet hours; severity "alarm" never waits.
- When the excursion ends (values back in range), everyone it reached gets a "back in range" notice with
  its duration and peak.

``run_escalations`` (beat, every minute; and right after an excursion opens) first settles the
suppressions whose window is over (``alarms.suppression``), then claims each due step in a short
transaction and sends it: a step is never sent twice, even by two workers at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from alarms.delivery import Message, deliver, retry_delays, routes_for_channels, routes_for_user, unreached
from alarms.models import (
    Escalation,
    EscalationLevel,
    EscalationPolicy,
    EscalationStop,
    Notification,
    NotificationKind,
    NotificationStatus,
)
from alarms.oncall import on_call
from monitoring.models import Excursion
from monitoring.models.excursions import ExcursionState, Severity

logger = logging.getLogger("alarms.escalation")


# -- which policy -----------------------------------------------------------------------------------


def policy_for_device(device) -> EscalationPolicy | None:
    policies = EscalationPolicy.objects.filter(enabled=True).order_by("id")
    scopes = [Q(devices=device.pk)]
    if device.group_id:
        scopes.append(Q(groups=device.group_id))
    if device.alarm_profile_id:
        scopes.append(Q(profiles=device.alarm_profile_id))
    for scope in scopes:
        policy = policies.filter(scope).first()
        if policy is not None:
            return policy
    return None


def policy_for_excursion(excursion: Excursion) -> EscalationPolicy | None:
    escalation = Escalation.objects.filter(excursion_id=excursion.pk).select_related("policy").first()
    if escalation is not None:
        return escalation.policy
    return policy_for_device(excursion.channel.device)


# -- start and stop ---------------------------------------------------------------------------------


def start(excursion: Excursion, waiting: bool = False) -> Escalation | None:
    """The escalation of a newly opened excursion, when a policy applies (called as it is created).
    ``waiting``: suppressed; it starts when the suppression is lifted (``alarms.suppression``)."""
    policy = policy_for_device(excursion.channel.device)
    if policy is None:
        return None
    first = policy.levels.order_by("position").first()
    if first is None:
        return Escalation.objects.create(
            excursion=excursion,
            policy=policy,
            stopped_at=timezone.now(),
            stop_reason=EscalationStop.NO_LEVELS,
        )
    opened_at = excursion.created_at or timezone.now()
    next_at = None if waiting else opened_at + timedelta(minutes=first.delay_minutes)
    return Escalation.objects.create(excursion=excursion, policy=policy, next_at=next_at)


def stop(excursion: Excursion, reason: str) -> int:
    return Escalation.objects.filter(excursion_id=excursion.pk, stopped_at__isnull=True).update(
        stopped_at=timezone.now(), next_at=None, stop_reason=reason
    )


# -- who is reached ---------------------------------------------------------------------------------


def level_users(level: EscalationLevel, at: datetime) -> list:
    users = list(level.users.filter(is_active=True).order_by("id"))
    members = (
        get_user_model()
        .objects.filter(is_active=True, groups__in=level.groups.all())
        .distinct()
        .order_by("id")
    )
    users += [u for u in members if u not in users]
    if level.rota_id:
        users += [u for u in on_call(level.rota, at) if u not in users]
    return users


# -- messages ---------------------------------------------------------------------------------------


def excursion_context(excursion: Excursion) -> dict:
    return {
        "site_url": settings.SITE_URL,
        "excursion": excursion,
        "channel": excursion.channel,
        "device": excursion.channel.device,
        "rule": excursion.rule,
        "link": settings.SITE_URL + reverse("excursion_detail", args=[excursion.pk]),
    }


def build_message(template: str, context: dict) -> Message:
    from monitoring.notifications import render_subject, render_text

    return Message(
        subject=render_subject(f"emails/{template}-subject.txt", context),
        text=render_text(f"emails/{template}-body.txt", context),
        html=render_to_string(f"emails/{template}-body.html", context),
    )


def is_open(excursion_id: int) -> bool:
    return Excursion.objects.filter(pk=excursion_id, state=ExcursionState.OPEN).exists()


# -- the walk ---------------------------------------------------------------------------------------


def _claim(escalation_id: int, now: datetime) -> tuple[Escalation, EscalationLevel, int] | None:
    """Advance one due escalation by a step; returns it with the level to send and the step's number,
    or None when nothing is to be sent (stopped, not due, waiting for the quiet hours to end)."""
    with transaction.atomic():
        escalation = (
            Escalation.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("policy", "excursion__channel__device", "excursion__rule", "health_alarm")
            .filter(pk=escalation_id, stopped_at__isnull=True, next_at__lte=now)
            .first()
        )
        if escalation is None:
            return None
        subject = escalation.excursion or escalation.health_alarm
        if subject.state != ExcursionState.OPEN:
            reason = (
                EscalationStop.CLOSED
                if subject.state == ExcursionState.CLOSED
                else EscalationStop.ACKNOWLEDGED
            )
            escalation.stopped_at, escalation.next_at, escalation.stop_reason = now, None, reason
            escalation.save(update_fields=["stopped_at", "next_at", "stop_reason"])
            return None
        policy = escalation.policy
        # Device-health alarms follow the policy's schedule, as warnings do (default: business hours).
        if getattr(subject, "severity", Severity.WARNING) == Severity.WARNING:
            quiet_until = policy.quiet_hours_end_after(now)
            if quiet_until is not None:
                escalation.next_at = quiet_until
                escalation.save(update_fields=["next_at"])
                return None
        levels = list(policy.levels.order_by("position"))
        if not levels:
            escalation.stopped_at, escalation.next_at = now, None
            escalation.stop_reason = EscalationStop.NO_LEVELS
            escalation.save(update_fields=["stopped_at", "next_at", "stop_reason"])
            return None
        step = escalation.step
        level = levels[min(step, len(levels) - 1)]
        escalation.step = step + 1
        if escalation.step < len(levels):
            wait = timedelta(minutes=levels[escalation.step].delay_minutes)
        else:
            wait = timedelta(minutes=policy.repeat_minutes)
        # Counted from when this step was due, so the levels keep their times from the opening however
        # late a worker runs; after a long stop of the workers, from now (no burst of missed repeats).
        scheduled = escalation.next_at + wait
        escalation.next_at = scheduled if scheduled > now else now + wait
        escalation.save(update_fields=["step", "next_at"])
        return escalation, level, step


def send_level(escalation: Escalation, level: EscalationLevel, step: int, now: datetime) -> int:
    """Every recipient of the level (users, groups, whoever is on call; the level's shared channels), each
    by their first route that works. Returns the number reached."""
    excursion, health_alarm = escalation.excursion, escalation.health_alarm
    repeat = step >= escalation.policy.levels.count()
    kind = NotificationKind.REPEAT if repeat else NotificationKind.ESCALATION
    about = {"level": level, "repeat": repeat, "step": step + 1}
    if excursion is not None:
        message = build_message("excursion-alarm", {**excursion_context(excursion), **about})
        base = f"excursion:{excursion.pk}:step:{step}"

        def still_wanted() -> bool:
            return is_open(excursion.pk)
    else:
        from alarms.health import health_context, health_is_open

        message = build_message("device-health-alarm", {**health_context(health_alarm), **about})
        base = f"health:{health_alarm.pk}:step:{step}"

        def still_wanted() -> bool:
            return health_is_open(health_alarm.pk)

    subject = {"excursion": excursion, "health_alarm": health_alarm, "level": level.position}
    reached = 0
    for user in level_users(level, now):
        if deliver(
            f"{base}:user:{user.pk}",
            routes_for_user(user),
            message,
            kind=kind,
            user=user,
            still_wanted=still_wanted,
            **subject,
        ):
            reached += 1
    shared = routes_for_channels(level.channels.order_by("position", "id"))
    if shared and deliver(
        f"{base}:level:{level.pk}", shared, message, kind=kind, still_wanted=still_wanted, **subject
    ):
        reached += 1
    return reached


def step_key(escalation: Escalation, step: int) -> str:
    """What every target key of one step of an escalation starts with (``send_level``)."""
    if escalation.excursion_id:
        return f"excursion:{escalation.excursion_id}:step:{step}"
    return f"health:{escalation.health_alarm_id}:step:{step}"


def retry_later(task, args: tuple, attempt: int) -> bool:
    """Schedule ``task`` to try the unreached targets again after the ``attempt``-th back-off (0 first);
    False when the back-offs are spent (the failures stay in the log and on the sync status page)."""
    delays = retry_delays()
    if attempt >= len(delays):
        return False
    try:
        task.apply_async(args, countdown=delays[attempt])
    except Exception:  # a broker out of reach: the next level or repeat still comes from the beat
        logger.exception("could not schedule a retry of %s%s", task.name, args)
        return False
    return True


def resend_level(escalation_id: int, step: int, now: datetime | None = None) -> list[str]:
    """Try the targets of an escalation's step that were not reached once more (those reached are
    skipped by their ``target_key``; an acknowledgement meanwhile stops it all). The targets still not
    reached."""
    escalation = (
        Escalation.objects.select_related(
            "policy", "excursion__channel__device", "excursion__rule", "health_alarm"
        )
        .filter(pk=escalation_id)
        .first()
    )
    if escalation is None or escalation.stopped_at:
        return []
    levels = list(escalation.policy.levels.order_by("position"))
    if not levels:
        return []
    level = levels[min(step, len(levels) - 1)]
    send_level(escalation, level, step, now or timezone.now())
    return unreached(step_key(escalation, step))


def run_escalations(now: datetime | None = None) -> int:
    """Fire every due step (see the module docstring). Returns the number of recipients reached."""
    from alarms.suppression import settle_suppressions

    now = now or timezone.now()
    settle_suppressions(now)
    due = Escalation.objects.filter(stopped_at__isnull=True, next_at__lte=now).order_by("next_at")
    reached = 0
    for escalation_id in due.values_list("pk", flat=True):
        claimed = _claim(escalation_id, now)
        if claimed is None:
            continue
        try:
            reached += send_level(*claimed, now)
        except Exception:
            logger.exception("escalation %s: sending a level failed", escalation_id)
        escalation, _, step = claimed
        if unreached(step_key(escalation, step)):
            from alarms import tasks

            retry_later(tasks.retry_level, (escalation_id, step), attempt=0)
    return reached


# -- back in range ----------------------------------------------------------------------------------


def notify_back_in_range(excursion_id: int) -> int:
    """Tell everyone the excursion reached that it is over, with its duration and peak."""
    excursion = Excursion.objects.select_related("channel__device", "rule").filter(pk=excursion_id).first()
    if excursion is None or excursion.ended_at is None:
        return 0
    reached_before = Notification.objects.filter(
        excursion=excursion,
        status=NotificationStatus.DELIVERED,
        kind__in=[NotificationKind.ESCALATION, NotificationKind.REPEAT],
    )
    users = (
        get_user_model()
        .objects.filter(pk__in=reached_before.exclude(user=None).values("user_id"), is_active=True)
        .order_by("id")
    )
    shared = list(
        {
            n.channel
            for n in reached_before.filter(user=None).select_related("channel")
            if n.channel is not None
        }
    )
    message = build_message("excursion-back-in-range", excursion_context(excursion))
    reached = 0
    base = f"excursion:{excursion.pk}:back"
    for user in users:
        if deliver(
            f"{base}:user:{user.pk}",
            routes_for_user(user),
            message,
            kind=NotificationKind.BACK_IN_RANGE,
            excursion=excursion,
            user=user,
        ):
            reached += 1
    for channel in sorted(shared, key=lambda c: c.pk):
        if deliver(
            f"{base}:channel:{channel.pk}",
            routes_for_channels([channel]),
            message,
            kind=NotificationKind.BACK_IN_RANGE,
            excursion=excursion,
        ):
            reached += 1
    return reached
