"""Calibration certificates: which one is in force, due-soon reminders, overdue channels, display offsets.

The certificate in force for a channel is its newest (by calibration date), or else its device's newest.
``remind_calibrations`` (beat, daily) sends one reminder per certificate in force that is due within
``CALIBRATION_REMINDER_DAYS``, through the escalation machinery: to the first level of the device's
escalation policy (users, groups, whoever is on call, the level's shared channels, each by their first
route that works), else of the device-health policy; each notice is in the log of notifications and the
certificate's audit trail.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from alarms.delivery import Message, deliver, routes_for_channels, routes_for_user, unreached
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


def certificates_for_device(device, channels) -> dict[int, CalibrationCertificate]:
    """Each channel's certificate in force as ``certificate_for`` finds it (its own newest, else its
    device's newest), for all the channels of a device in one query: {channel id: certificate}."""
    newest_own: dict[int, CalibrationCertificate] = {}
    newest_device = None
    certificates = CalibrationCertificate.objects.filter(
        Q(device_id=device.pk) | Q(channel_id__in=[c.pk for c in channels])
    ).order_by("calibrated_on", "id")
    for certificate in certificates:
        if certificate.channel_id:
            newest_own[certificate.channel_id] = certificate
        else:
            newest_device = certificate
    found = {c.pk: newest_own.get(c.pk) or newest_device for c in channels}
    return {pk: certificate for pk, certificate in found.items() if certificate is not None}


def offset_for(channel: Channel, on: date) -> float:
    """What to add to the channel's readings of that date when they are shown: 0 unless the customer
    opted in (``CALIBRATION_OFFSETS_SHOWN``). Stored readings never change."""
    if not settings.CALIBRATION_OFFSETS_SHOWN:
        return 0.0
    certificate = certificate_for(channel, on)
    return certificate.offset if certificate is not None else 0.0


@dataclass
class Corrections:
    """The offsets to add to a device's values shown, by channel: for each channel, from which day which
    certificate is in force (its own newest calibrated by then, else its device's). Empty unless the
    customer opted in (``CALIBRATION_OFFSETS_SHOWN``)."""

    periods: dict[int, list[tuple[date, CalibrationCertificate]]]

    def certificate_at(self, channel_id: int, moment: datetime) -> CalibrationCertificate | None:
        periods = self.periods.get(channel_id)
        if not periods:
            return None
        # Certificates are dated in the site's zone (the laboratory's day), not the viewer's.
        day = timezone.localtime(moment, timezone.get_default_timezone()).date()
        index = bisect.bisect_right([first for first, _ in periods], day) - 1
        return periods[index][1] if index >= 0 else None

    def offset_at(self, channel_id: int, moment: datetime) -> float:
        certificate = self.certificate_at(channel_id, moment)
        return certificate.offset if certificate is not None else 0.0

    def used(self, series) -> list[CalibrationCertificate]:
        """The certificates with an offset in force over the series' times, in order."""
        found: list[CalibrationCertificate] = []
        if not self.periods.get(series.channel.pk):
            return found  # not opted in, or no offset: no work per point
        for moment in series.times:
            certificate = self.certificate_at(series.channel.pk, moment)
            if certificate is not None and certificate.offset and certificate not in found:
                found.append(certificate)
        return found

    def apply(self, series):
        """A copy of the series (``monitoring.selectors.Series``) with each value corrected by the offset
        in force at its time; the series itself (perhaps cached) is left as it was."""
        channel_id = series.channel.pk
        if not self.periods.get(channel_id):
            return series
        offsets = [self.offset_at(channel_id, t) for t in series.times]
        error_offsets = [self.offset_at(channel_id, t) for t in series.error_times]

        def shifted(values, by):
            return (
                [None if v is None else v + o for v, o in zip(values, by, strict=False)] if values else values
            )

        return replace(
            series,
            values=shifted(series.values, offsets),
            minimum=shifted(series.minimum, offsets),
            maximum=shifted(series.maximum, offsets),
            mean=shifted(series.mean, offsets),
            error_values=shifted(series.error_values, error_offsets),
        )


def corrections_for(device, channels) -> Corrections:
    """The display corrections of a device's channels (one query), or none when not opted in."""
    if not settings.CALIBRATION_OFFSETS_SHOWN:
        return Corrections({})
    channels = list(channels)
    certificates = list(
        CalibrationCertificate.objects.filter(
            Q(device_id=device.pk) | Q(channel_id__in=[c.pk for c in channels])
        ).order_by("calibrated_on", "id")
    )
    whole_device = [c for c in certificates if c.device_id]
    periods: dict[int, list[tuple[date, CalibrationCertificate]]] = {}
    for channel in channels:
        own = [c for c in certificates if c.channel_id == channel.pk]
        days = sorted({c.calibrated_on for c in own + whole_device})
        steps: list[tuple[date, CalibrationCertificate]] = []
        for day in days:
            # The newest of its own calibrated by that day, else the device's newest.
            in_force = [c for c in own if c.calibrated_on <= day] or [
                c for c in whole_device if c.calibrated_on <= day
            ]
            certificate = in_force[-1]
            if not steps or steps[-1][1] is not certificate:
                steps.append((day, certificate))
        if any(c.offset for _, c in steps):
            periods[channel.pk] = steps
    return Corrections(periods)


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
class InForce:
    """The certificate in force for a channel on a day (its own newest, else its device's newest)."""

    channel_id: int
    device_id: int
    certificate_id: int
    certificate_number: str
    laboratory: str
    due_on: date
    offset: float


# The certificate in force of every channel that has one, calibrated by the day asked about, kept when it
# was due before that day (or, with offsets, when it corrects the values shown). Certificates are few (one
# a year per channel): the two DISTINCT ON sets are small, and the channels are joined to them by keys.
IN_FORCE_SQL = """
WITH own AS (
    SELECT DISTINCT ON (channel_id) channel_id, id, certificate_number, laboratory, due_on, "offset"
    FROM alarms_calibrationcertificate
    WHERE channel_id IS NOT NULL AND calibrated_on <= %(day)s
    ORDER BY channel_id, calibrated_on DESC, id DESC
), whole_device AS (
    SELECT DISTINCT ON (device_id) device_id, id, certificate_number, laboratory, due_on, "offset"
    FROM alarms_calibrationcertificate
    WHERE device_id IS NOT NULL AND calibrated_on <= %(day)s
    ORDER BY device_id, calibrated_on DESC, id DESC
), in_force AS (
    SELECT channel.id AS channel_id, channel.device_id, COALESCE(own.id, whole_device.id) AS id,
           CASE WHEN own.id IS NULL THEN whole_device.certificate_number ELSE own.certificate_number END
               AS certificate_number,
           CASE WHEN own.id IS NULL THEN whole_device.laboratory ELSE own.laboratory END AS laboratory,
           CASE WHEN own.id IS NULL THEN whole_device.due_on ELSE own.due_on END AS due_on,
           CASE WHEN own.id IS NULL THEN whole_device."offset" ELSE own."offset" END AS "offset"
    FROM monitoring_channel AS channel
    LEFT JOIN own ON own.channel_id = channel.id
    LEFT JOIN whole_device ON whole_device.device_id = channel.device_id
    WHERE own.id IS NOT NULL OR whole_device.id IS NOT NULL
)
SELECT channel_id, device_id, id, certificate_number, laboratory, due_on, "offset"
FROM in_force
WHERE due_on < %(day)s OR (%(offsets)s AND "offset" <> 0)
ORDER BY device_id, channel_id
"""


def certificates_to_mark(on: date | None = None, *, offsets: bool = False) -> dict[int, InForce]:
    """{channel id: InForce} of the channels whose certificate in force on that day (default: today) was
    due before it and, with ``offsets``, of those whose certificate has an offset. One query."""
    day = on or timezone.localdate()
    with connection.cursor() as cursor:
        cursor.execute(IN_FORCE_SQL, {"day": day, "offsets": offsets})
        return {row[0]: InForce(*row) for row in cursor.fetchall()}


def overdue_channels(on: date | None = None) -> dict[int, InForce]:
    """{channel id: InForce} of every channel whose certificate in force on that day (default: today)
    was due before it, in one query. A channel without any certificate is not overdue: nothing says it
    needs one (calibration is tracked here only where a certificate was entered)."""
    day = on or timezone.localdate()
    return {k: v for k, v in certificates_to_mark(day).items() if v.due_on < day}


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
        if not sent and unreached(base):
            continue  # every route failed: the next run tries again (those reached are skipped)
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
