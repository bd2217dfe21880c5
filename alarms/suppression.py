"""Planned interventions: suppression windows.

An excursion that starts inside an enabled window of its channel, its device or its device's group is
recorded as suppressed (``ExcursionSuppression``, with the window's kind and reason) as it is created: no
escalation, no email of its rule, no webhook. When the window ends, ``settle_suppressions`` decides:

- it ended inside the window: it stays suppressed (kept), and reports show it so;
- it is still going on (or ended after the window's end): the suppression is lifted and it becomes a
  normal excursion: its escalation starts (or its rule's email goes out), its webhook "opened" is sent.

The decision waits until the data can tell: a reading at or after the window's end, the excursion's end,
or an hour past the window's end (a silent logger). Each step is in the excursion's audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from alarms.models import Escalation, EscalationStop, ExcursionSuppression, SuppressionWindow
from monitoring.audit import record
from monitoring.models import Excursion
from monitoring.models.audit import AuditAction

# Without any reading after the window's end, the excursion is taken as still going on after this long.
SETTLE_AT_THE_LATEST = timedelta(hours=1)


def windows_for_channel(channel):
    device = channel.device
    scope = Q(channel_id=channel.pk) | Q(device_id=device.pk)
    if device.group_id:
        scope |= Q(group_id=device.group_id)
    return SuppressionWindow.objects.filter(scope, enabled=True).order_by("id")


@dataclass(frozen=True)
class WindowShown:
    """One occurrence of a suppression window, as the charts shade it and the notes under them list it."""

    start: datetime
    end: datetime
    window: SuppressionWindow
    channel_name: str = ""  # a window of one channel of a device of several: which one

    @property
    def label(self) -> str:
        """ "Defrost — Weekly defrost of the fridge" (and the channel's name for a window of one)."""
        text = f"{self.window.get_kind_display()} — {self.window.reason}"
        return f"{text} ({self.channel_name})" if self.channel_name else text


def windows_between(device, channels, start: datetime, end: datetime) -> list[WindowShown]:
    """The enabled suppression windows of the device, of these channels of it and of its group, each
    occurrence overlapping [start, end), in time order (one query)."""
    channels = list(channels)
    scope = Q(channel_id__in=[c.pk for c in channels]) | Q(device_id=device.pk)
    if device.group_id:
        scope |= Q(group_id=device.group_id)
    names = {c.pk: c.display_name for c in channels} if len(channels) > 1 else {}
    shown = [
        WindowShown(first, last, window, names.get(window.channel_id, ""))
        for window in SuppressionWindow.objects.filter(scope, enabled=True).order_by("id")
        for first, last in window.occurrences_between(start, end)
    ]
    return sorted(shown, key=lambda w: (w.start, w.window.pk))


def suppress_if_inside(excursion: Excursion) -> ExcursionSuppression | None:
    """Record the excursion as suppressed when it starts inside a window (called as it is created)."""
    for window in windows_for_channel(excursion.channel):
        occurrence = window.occurrence_at(excursion.started_at)
        if occurrence is None:
            continue
        start, end = occurrence
        suppression = ExcursionSuppression.objects.create(
            excursion=excursion,
            window=window,
            kind=window.kind,
            reason=window.reason,
            window_start=start,
            window_end=end,
        )
        record(
            AuditAction.UPDATE,
            excursion,
            {
                "suppressed": [
                    None,
                    f"{window.get_kind_display()}: {window.reason} (window until {end:%Y-%m-%d %H:%M %Z})",
                ]
            },
            reason="started inside a suppression window",
        )
        return suppression
    return None


def is_suppressed(excursion: Excursion) -> bool:
    """Suppressed now: inside its window, or ended there (not lifted)."""
    return ExcursionSuppression.objects.filter(excursion_id=excursion.pk, lifted_at__isnull=True).exists()


def _lift(suppression: ExcursionSuppression, now: datetime) -> None:
    from alarms import webhooks
    from alarms.models import WebhookEvent
    from monitoring.notifications import notify_excursion_opened

    excursion = suppression.excursion
    with transaction.atomic():
        suppression.lifted_at = now
        suppression.save(update_fields=["lifted_at"])
        record(
            AuditAction.UPDATE,
            excursion,
            {"suppressed": [suppression.reason, None]},
            reason="still out of range when its suppression window ended: a normal excursion now",
        )
        escalation = Escalation.objects.filter(excursion=excursion, stopped_at__isnull=True).first()
        if escalation is not None:
            escalation.next_at = now
            escalation.save(update_fields=["next_at"])
        webhooks.excursion_event(excursion, WebhookEvent.OPENED)
    if escalation is None:
        notify_excursion_opened(excursion)  # the rule's own email, as for any excursion without a policy


def _keep(suppression: ExcursionSuppression, now: datetime) -> None:
    with transaction.atomic():
        suppression.kept_at = now
        suppression.save(update_fields=["kept_at"])
        Escalation.objects.filter(excursion_id=suppression.excursion_id, stopped_at__isnull=True).update(
            stopped_at=now, next_at=None, stop_reason=EscalationStop.SUPPRESSED
        )


def settle_suppressions(now: datetime | None = None) -> tuple[int, int]:
    """Lift or keep the suppressions whose window is over (see the module docstring). Returns (lifted,
    kept)."""
    now = now or timezone.now()
    pending = ExcursionSuppression.objects.filter(
        lifted_at__isnull=True, kept_at__isnull=True
    ).select_related("excursion__channel__device", "excursion__rule")
    lifted = kept = 0
    for suppression in pending.filter(Q(window_end__lte=now) | Q(excursion__ended_at__isnull=False)):
        excursion, end = suppression.excursion, suppression.window_end
        if excursion.ended_at is not None and excursion.ended_at <= end:
            _keep(suppression, now)
            kept += 1
            continue
        last_reading = excursion.channel.last_reading_at
        data_says = excursion.ended_at is not None or (last_reading is not None and last_reading >= end)
        if now < end or not (data_says or now >= end + SETTLE_AT_THE_LATEST):
            continue
        _lift(suppression, now)
        lifted += 1
    return lifted, kept
