"""What the pages of other apps show of alarm handling, each in one tag: the notices sent about an
excursion (its page), the failing notification channels (the sync status page)."""

from __future__ import annotations

from datetime import timedelta

from django import template

from alarms.channels import failing_channels, failing_webhooks
from alarms.models import Escalation, ExcursionSuppression, Notification

register = template.Library()


@register.filter
def span(duration: timedelta | None) -> str:
    """A duration as people say it: "1 h 20 min", "3 d 2 h", "45 min"."""
    if duration is None:
        return "ongoing"
    minutes = int(duration.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(p for p in parts if p) or "under a minute"


@register.inclusion_tag("alarms/_excursion_notifications.html")
def excursion_notifications(excursion) -> dict:
    notifications = (
        Notification.objects.filter(excursion=excursion).select_related("user").order_by("sent_at", "id")
    )
    escalation = Escalation.objects.filter(excursion_id=excursion.pk).select_related("policy").first()
    suppression = ExcursionSuppression.objects.filter(excursion_id=excursion.pk).first()
    return {"notifications": list(notifications), "escalation": escalation, "suppression": suppression}


@register.inclusion_tag("alarms/_failing_channels.html")
def failing_notification_channels() -> dict:
    from alarms.models import HealthAlarm, HealthState

    open_health = HealthAlarm.objects.filter(state=HealthState.OPEN).count()
    return {"channels": failing_channels(), "webhooks": failing_webhooks(), "open_health": open_health}


@register.inclusion_tag("alarms/_device_calibration.html", takes_context=True)
def device_calibration(context, device) -> dict:
    """Each channel's certificate in force (its own, else the device's), overdue ones marked."""
    from django.utils import timezone

    from alarms.calibration import certificates_for_device

    today = timezone.localdate()
    channels = list(device.channels.all())
    certificates = certificates_for_device(device, channels)
    rows = []
    for channel in channels:
        certificate = certificates.get(channel.pk)
        if certificate is not None:
            rows.append((channel, certificate, certificate.due_on < today))
    return {"rows": rows, "perms": context.get("perms")}
