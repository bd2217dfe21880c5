"""Device health as alarms: low battery, a sensor error that lasts, a device (or one of its channels) that
sends nothing, a vendor account whose sync keeps failing.

``check_device_health`` (beat, every 5 minutes) opens a ``HealthAlarm`` for each condition that holds and
has none open, and marks ``cleared_at`` on those whose condition is over. Each is escalated by the first
enabled policy marked "for device health" (migration: "Device health (default)", the Admin role, in
business hours, Monday to Friday) until someone acknowledges it (Alerts page, "Device health" tab).

Thresholds (settings, from the environment): ``LOW_BATTERY_PERCENT`` with per-vendor values in
``LOW_BATTERY_PERCENT_BY_VENDOR``, ``SENSOR_ERROR_ALARM_MINUTES``, ``DEVICE_NO_DATA_ALARM_MINUTES``,
``SYNC_FAILURES_ALARM``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from alarms.models import Escalation, EscalationPolicy, EscalationStop, HealthAlarm, HealthKind, HealthState
from monitoring.audit import audit_context, record
from monitoring.choices import InstallationStatus
from monitoring.models import Channel, Device, Reading
from monitoring.models.audit import AuditAction
from vendors.models import VendorAccount

INACTIVE = [InstallationStatus.UNINSTALLED, InstallationStatus.RETIRED]


def low_battery_threshold(vendor: str) -> float:
    return settings.LOW_BATTERY_PERCENT_BY_VENDOR.get(vendor, settings.LOW_BATTERY_PERCENT)


def _error_since(channel: Channel) -> datetime | None:
    """When the channel's current run of sensor errors began."""
    readings = Reading.objects.filter(channel_id=channel.pk)
    last_good = readings.filter(error="").order_by("-timestamp").values_list("timestamp", flat=True).first()
    errors = readings.exclude(error="")
    if last_good is not None:
        errors = errors.filter(timestamp__gt=last_good)
    return errors.order_by("timestamp").values_list("timestamp", flat=True).first()


def conditions(now: datetime) -> dict[tuple, str]:
    """{(kind, device id, channel id, account id): detail} of every condition that holds now."""
    found: dict[tuple, str] = {}
    devices = (
        Device.objects.exclude(installation_status__in=INACTIVE)
        .select_related("account")
        .defer("account__credentials", "account__session")  # the vendor only: no decryption a device
    )
    for device in devices.filter(battery__isnull=False):
        threshold = low_battery_threshold(device.account.vendor)
        if device.battery < threshold:
            detail = f"Battery {device.battery:g} % (alarm below {threshold:g} %)"
            found[(HealthKind.LOW_BATTERY, device.pk, None, None)] = detail
    silent = timedelta(minutes=settings.DEVICE_NO_DATA_ALARM_MINUTES)
    for device in devices.filter(last_seen__lt=now - silent):
        found[(HealthKind.NO_DATA, device.pk, None, None)] = (
            f"Nothing received since {device.last_seen:%Y-%m-%d %H:%M} UTC"
        )
    # A channel silent while its device still talks (a silent device is one alarm, not one per channel).
    quiet_channels = Channel.objects.filter(
        last_reading_at__lt=now - silent, device__last_seen__gte=now - silent
    ).exclude(device__installation_status__in=INACTIVE)
    for channel in quiet_channels:
        detail = f"No reading of this channel since {channel.last_reading_at:%Y-%m-%d %H:%M} UTC"
        found[(HealthKind.CHANNEL_NO_DATA, None, channel.pk, None)] = detail
    lasting = timedelta(minutes=settings.SENSOR_ERROR_ALARM_MINUTES)
    erring = Channel.objects.exclude(last_error="").exclude(device__installation_status__in=INACTIVE)
    for channel in erring.select_related("device"):
        since = _error_since(channel)
        if since is not None and now - since >= lasting:
            detail = f'Sensor error "{channel.last_error}" since {since:%Y-%m-%d %H:%M} UTC'
            found[(HealthKind.SENSOR_ERROR, None, channel.pk, None)] = detail
    failing = VendorAccount.objects.filter(
        enabled=True, consecutive_failures__gte=settings.SYNC_FAILURES_ALARM
    )
    for account in failing:
        detail = f"{account.consecutive_failures} failed syncs in a row: {account.last_error}"[:300]
        found[(HealthKind.SYNC_FAILING, None, None, account.pk)] = detail
    return found


def health_policy() -> EscalationPolicy | None:
    return EscalationPolicy.objects.filter(enabled=True, for_device_health=True).order_by("id").first()


def _open(key: tuple, detail: str, now: datetime) -> HealthAlarm:
    kind, device_id, channel_id, account_id = key
    alarm = HealthAlarm.objects.create(
        kind=kind,
        device_id=device_id,
        channel_id=channel_id,
        account_id=account_id,
        detail=detail,
        opened_at=now,
    )
    policy = health_policy()
    if policy is not None:
        Escalation.objects.create(health_alarm=alarm, policy=policy, next_at=now)
    record(AuditAction.CREATE, alarm, {"detail": [None, detail]}, reason="device-health check")
    return alarm


def check_device_health(now: datetime | None = None) -> tuple[int, int]:
    """Open the alarms of new conditions, clear those whose condition is over. Returns (opened, cleared)."""
    now = now or timezone.now()
    found = conditions(now)
    current = {
        (a.kind, a.device_id, a.channel_id, a.account_id): a
        for a in HealthAlarm.objects.filter(cleared_at=None)
    }
    opened = cleared = 0
    with transaction.atomic():
        for key, detail in found.items():
            if key not in current:
                _open(key, detail, now)
                opened += 1
        for key, alarm in current.items():
            if key not in found:
                alarm.cleared_at = now
                alarm.save(update_fields=["cleared_at"])
                cleared += 1
    return opened, cleared


def health_inbox(acknowledged_limit: int = 50) -> tuple[list[HealthAlarm], list[HealthAlarm]]:
    """The "Device health" tab of the Alerts inbox: every open alarm (newest first, however old: an open
    one is what must not be missed), then the newest acknowledged ones. Two queries."""
    alarms = HealthAlarm.objects.select_related(
        "device", "channel__device", "account", "acknowledged_by"
    ).order_by("-opened_at", "-pk")
    return (
        list(alarms.filter(state=HealthState.OPEN)),
        list(
            alarms.filter(state=HealthState.ACKNOWLEDGED).order_by("-acknowledged_at", "-pk")[
                :acknowledged_limit
            ]
        ),
    )


def open_health_alarms() -> int:
    return HealthAlarm.objects.filter(state=HealthState.OPEN).count()


def health_alarm_with_subject(pk: int) -> HealthAlarm | None:
    related = ("device", "channel__device", "account", "acknowledged_by")
    return HealthAlarm.objects.select_related(*related).filter(pk=pk).first()


def health_is_open(alarm_id: int) -> bool:
    return HealthAlarm.objects.filter(pk=alarm_id, state=HealthState.OPEN).exists()


def health_context(alarm: HealthAlarm) -> dict:
    return {
        "site_url": settings.SITE_URL,
        "alarm": alarm,
        "link": f"{settings.SITE_URL}{reverse('alerts')}?tab=health#health-{alarm.pk}",
    }


def health_alarm_acknowledge(alarm: HealthAlarm, user, comment: str) -> HealthAlarm:
    """Acknowledge: a comment is required; the escalation stops at once; audited."""
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError("A comment is required to acknowledge an alarm.", code="comment")
    with transaction.atomic():
        alarm = HealthAlarm.objects.select_for_update().get(pk=alarm.pk)
        if alarm.state != HealthState.OPEN:
            raise ValidationError("This alarm is acknowledged already.", code="state")
        with audit_context(user=user, reason=comment):
            alarm.state, alarm.acknowledged_at, alarm.acknowledged_by = (
                HealthState.ACKNOWLEDGED,
                timezone.now(),
                user,
            )
            alarm.acknowledgement_comment = comment
            alarm.save(
                update_fields=["state", "acknowledged_at", "acknowledged_by", "acknowledgement_comment"]
            )
            Escalation.objects.filter(health_alarm=alarm, stopped_at__isnull=True).update(
                stopped_at=alarm.acknowledged_at, next_at=None, stop_reason=EscalationStop.ACKNOWLEDGED
            )
            record(AuditAction.ACKNOWLEDGE, alarm, {"state": [HealthState.OPEN, HealthState.ACKNOWLEDGED]})
    return alarm
