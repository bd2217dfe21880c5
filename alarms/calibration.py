"""Calibration certificates: which one is in force, due-soon reminders, overdue channels, display offsets.

The certificate in force for a channel is its newest (by calibration date), or else its device's newest.
``remind_calibrations`` (beat, daily) sends one reminder per certificate in force that is due within
``CALIBRATION_REMINDER_DAYS``, through the escalation machinery: to the first level of the device's
escalation policy (users, groups, whoever is on call, the level's shared channels, each by their first
route that works), else of the device-health policy; each notice is in the log of notifications and the
certificate's audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from alarms.delivery import Message, deliver, routes_for_channels, routes_for_user
from alarms.escalation import level_users, policy_for_device
from alarms.health import health_policy
from alarms.models import CalibrationCertificate, NotificationKind
from monitoring.audit import record
from monitoring.models import Channel
from monitoring.models.audit import AuditAction


def certificates_in_force() -> list[CalibrationCertificate]:
    """The newest certificate of each channel and of each device (one query)."""
    newest: dict[tuple[str, int], CalibrationCertificate] = {}
    for certificate in CalibrationCertificate.objects.select_related("channel__device", "device").order_by(
        "calibrated_on", "id"
    ):
        scope = (
            ("channel", certificate.channel_id)
            if certificate.channel_id
            else ("device", certificate.device_id)
        )
        newest[scope] = certificate
    return list(newest.values())


def certificate_for(channel: Channel, on: date | None = None) -> CalibrationCertificate | None:
    """The certificate in force for the channel (on a date: the newest calibrated by then)."""
    certificates = CalibrationCertificate.objects.filter(Q(channel=channel) | Q(device_id=channel.device_id))
    if on is not None:
        certificates = certificates.filter(calibrated_on__lte=on)
    own = certificates.filter(channel=channel).order_by("-calibrated_on", "-id").first()
    return own or certificates.filter(device_id=channel.device_id).order_by("-calibrated_on", "-id").first()


def offset_for(channel: Channel, on: date) -> float:
    """What to add to the channel's readings of that date when they are shown: 0 unless the customer
    opted in (``CALIBRATION_OFFSETS_SHOWN``). Stored readings never change."""
    if not settings.CALIBRATION_OFFSETS_SHOWN:
        return 0.0
    certificate = certificate_for(channel, on)
    return certificate.offset if certificate is not None else 0.0


def is_overdue(certificate: CalibrationCertificate, today: date) -> bool:
    return certificate.due_on < today


def overdue_line(channel: Channel, today: date | None = None) -> str:
    """For reports and pages: "Calibration overdue since 2026-10-01 (certificate K-123)." or ""."""
    today = today or timezone.localdate()
    certificate = certificate_for(channel)
    if certificate is None or not is_overdue(certificate, today):
        return ""
    number = certificate.certificate_number
    return f"Calibration overdue since {certificate.due_on:%Y-%m-%d} (certificate {number})."


@dataclass(frozen=True)
class Overdue:
    """A channel whose certificate in force was due before the day asked about."""

    channel_id: int
    device_id: int
    certificate_id: int
    certificate_number: str
    laboratory: str
    due_on: date


# The certificate in force of every channel that has one (its own newest, else its device's newest,
# calibrated by the day asked about), kept when it was due before that day. Certificates are few (one a
# year per channel): the two DISTINCT ON sets are small, and the channels are joined to them by their keys.
OVERDUE_SQL = """
WITH own AS (
    SELECT DISTINCT ON (channel_id) channel_id, id, certificate_number, laboratory, due_on
    FROM alarms_calibrationcertificate
    WHERE channel_id IS NOT NULL AND calibrated_on <= %(day)s
    ORDER BY channel_id, calibrated_on DESC, id DESC
), whole_device AS (
    SELECT DISTINCT ON (device_id) device_id, id, certificate_number, laboratory, due_on
    FROM alarms_calibrationcertificate
    WHERE device_id IS NOT NULL AND calibrated_on <= %(day)s
    ORDER BY device_id, calibrated_on DESC, id DESC
)
SELECT channel.id, channel.device_id, COALESCE(own.id, whole_device.id),
       COALESCE(own.certificate_number, whole_device.certificate_number),
       COALESCE(own.laboratory, whole_device.laboratory),
       COALESCE(own.due_on, whole_device.due_on)
FROM monitoring_channel AS channel
LEFT JOIN own ON own.channel_id = channel.id
LEFT JOIN whole_device ON whole_device.device_id = channel.device_id
WHERE (own.id IS NOT NULL OR whole_device.id IS NOT NULL)
  AND COALESCE(own.due_on, whole_device.due_on) < %(day)s
ORDER BY channel.device_id, channel.id
"""


def overdue_channels(on: date | None = None) -> dict[int, Overdue]:
    """{channel id: Overdue} of every channel whose certificate in force on that day (default: today)
    was due before it, in one query. A channel without any certificate is not overdue: nothing says it
    needs one (calibration is tracked here only where a certificate was entered)."""
    day = on or timezone.localdate()
    with connection.cursor() as cursor:
        cursor.execute(OVERDUE_SQL, {"day": day})
        return {row[0]: Overdue(*row) for row in cursor.fetchall()}


def _message(certificate: CalibrationCertificate, today: date) -> Message:
    context = {
        "certificate": certificate,
        "scope": str(certificate.channel or certificate.device),
        "days": (certificate.due_on - today).days,
        "site_url": settings.SITE_URL,
    }
    from monitoring.notifications import render_subject, render_text

    return Message(
        subject=render_subject("emails/calibration-due-subject.txt", context),
        text=render_text("emails/calibration-due-body.txt", context),
        html=render_to_string("emails/calibration-due-body.html", context),
    )


def _recipients(device, now: datetime) -> tuple[list, list]:
    policy = policy_for_device(device) or health_policy()
    level = policy.levels.order_by("position").first() if policy is not None else None
    if level is None:
        users = (
            get_user_model().objects.filter(is_active=True, groups__name="Admin").distinct().order_by("id")
        )
        return list(users), []
    return level_users(level, now), list(level.channels.order_by("position", "id"))


def remind_calibrations(now: datetime | None = None) -> int:
    """One reminder per certificate in force due within the reminder days. Returns the number reached."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    horizon = today + timedelta(days=settings.CALIBRATION_REMINDER_DAYS)
    reached = 0
    for certificate in certificates_in_force():
        if certificate.reminded_at is not None or certificate.due_on > horizon:
            continue
        device = certificate.device or certificate.channel.device
        users, shared = _recipients(device, now)
        message = _message(certificate, today)
        base = f"calibration:{certificate.pk}:{certificate.due_on:%Y%m%d}"
        sent = []
        for user in users:
            notification = deliver(
                f"{base}:user:{user.pk}",
                routes_for_user(user),
                message,
                kind=NotificationKind.CALIBRATION_DUE,
                user=user,
            )
            if notification is not None:
                sent.append(notification.recipient)
        if shared:
            notification = deliver(
                f"{base}:channels",
                routes_for_channels(shared),
                message,
                kind=NotificationKind.CALIBRATION_DUE,
            )
            if notification is not None:
                sent.append(notification.recipient)
        certificate.reminded_at = now
        certificate.save(update_fields=["reminded_at"])
        record(
            AuditAction.NOTIFY,
            certificate,
            {
                "notification": [
                    None,
                    f"Calibration due on {certificate.due_on:%Y-%m-%d}: to {', '.join(sent) or 'nobody'}",
                ]
            },
        )
        reached += len(sent)
    return reached
