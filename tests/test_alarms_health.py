"""Device health as alarms: low battery, a lasting sensor error, a silent device, a failing sync; escalated
by the device-health policy (default: the Admin role in business hours) until acknowledged."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from datetime import time as clock

from django.core.exceptions import ValidationError

from alarms.escalation import run_escalations
from alarms.health import check_device_health
from alarms.models import Escalation, HealthAlarm
from monitoring.models import AuditRecord, Channel, Device, Reading
from tests.factories import make_account, make_user
from tests.test_notifications import smtp_inbox  # noqa: F401  (the fixture)

# The default policy's business hours: Monday to Friday, 08:00 to 18:00 UTC (TIME_ZONE).
MONDAY_3AM = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def test_a_low_battery_reaches_the_admins_in_business_hours_until_acknowledged(
    smtp_inbox,  # noqa: F811
    client,
    settings,
    db,
):
    settings.LOW_BATTERY_PERCENT_BY_VENDOR = {"thermotrack": 25}
    admin = make_user("boss", role="Admin")
    make_user("qa")  # QA is not in the default policy
    account = make_account()
    fridge = Device.objects.create(account=account, vendor_id="1", name="Vaccine fridge", battery=22)
    Device.objects.create(account=account, vendor_id="2", name="Freezer", battery=60)

    assert check_device_health(now=MONDAY_3AM) == (1, 0)
    assert check_device_health(now=MONDAY_3AM + timedelta(minutes=5)) == (0, 0), "one alarm, not one a run"
    (alarm,) = HealthAlarm.objects.all()
    assert (alarm.kind, alarm.device, alarm.detail) == (
        "low_battery",
        fridge,
        "Battery 22 % (alarm below 25 %)",
    )

    assert run_escalations(now=MONDAY_3AM) == 0, "business hours only"
    assert run_escalations(now=MONDAY_3AM.replace(hour=8)) == 1
    (message,) = smtp_inbox.messages
    assert smtp_inbox.envelopes[0].rcpt_tos == ["boss@example.com"]
    assert message["Subject"] == "[DEVICE HEALTH] low battery: Vaccine fridge, unacknowledged"
    assert run_escalations(now=MONDAY_3AM.replace(hour=9)) == 0
    assert run_escalations(now=MONDAY_3AM.replace(hour=8) + timedelta(days=1)) == 1  # again the next day

    client.force_login(admin)
    page = client.get("/device-health/", follow=True)  # the old page's address leads to the inbox's tab
    assert page.redirect_chain == [("/alerts/?tab=health", 302)]
    page = page.content.decode()
    assert "<strong>Low battery</strong>" in page and "Battery 22 % (alarm below 25 %)" in page
    refused = client.post(f"/device-health/{alarm.pk}/acknowledge/", {"comment": " "}, follow=True)
    assert "A comment is required" in refused.content.decode()
    client.post(f"/device-health/{alarm.pk}/acknowledge/", {"comment": "Battery ordered"})
    alarm.refresh_from_db()
    assert alarm.state == "acknowledged" and alarm.acknowledged_by == admin
    assert Escalation.objects.get(health_alarm=alarm).stop_reason == "acknowledged"
    assert run_escalations(now=MONDAY_3AM.replace(hour=8) + timedelta(days=2)) == 0
    assert AuditRecord.objects.filter(
        model="alarms.healthalarm", action="acknowledge", username="boss"
    ).exists()
    assert AuditRecord.objects.filter(model="alarms.healthalarm", action="notify").count() == 2

    Device.objects.filter(pk=fridge.pk).update(battery=95)
    assert check_device_health(now=MONDAY_3AM + timedelta(days=3)) == (0, 1)
    alarm.refresh_from_db()
    assert alarm.cleared_at is not None


def test_a_lasting_sensor_error_a_silent_device_and_a_failing_sync_are_alarms(db):
    account = make_account(name="Pharmacy loggers")
    device = Device.objects.create(
        account=account, vendor_id="1", name="Cold room", last_seen=MONDAY_3AM - timedelta(hours=3)
    )
    probe = Channel.objects.create(
        device=device, name="t1", quantity="temperature", unit="C", last_error="probe disconnected"
    )
    Reading.objects.bulk_create(
        [
            Reading(channel=probe, timestamp=MONDAY_3AM - timedelta(minutes=50), value=4.0),
            Reading(channel=probe, timestamp=MONDAY_3AM - timedelta(minutes=40), error="probe disconnected"),
            Reading(channel=probe, timestamp=MONDAY_3AM - timedelta(minutes=10), error="probe disconnected"),
        ]
    )
    talking = Device.objects.create(account=account, vendor_id="2", name="Freezer", last_seen=MONDAY_3AM)
    Channel.objects.create(
        device=talking, name="t1", quantity="temperature", unit="C", last_reading_at=MONDAY_3AM
    )
    Channel.objects.create(
        device=talking,
        name="rh",
        quantity="humidity",
        unit="%",
        last_reading_at=MONDAY_3AM - timedelta(hours=4),
    )
    account.consecutive_failures, account.last_error = 4, "the vendor answered 503"
    account.save()

    check_device_health(now=MONDAY_3AM - timedelta(minutes=15))  # the error has lasted 25 minutes
    assert not HealthAlarm.objects.filter(kind="sensor_error").exists()
    check_device_health(now=MONDAY_3AM)  # 40 minutes
    kinds = dict(HealthAlarm.objects.values_list("kind", "detail"))
    assert kinds["sensor_error"].startswith('Sensor error "probe disconnected" since ')
    assert kinds["no_data"] == "Nothing received since 2026-11-23 00:00 UTC"
    assert kinds["sync_failing"] == "4 failed syncs in a row: the vendor answered 503"
    assert kinds["channel_silent"] == "No reading of this channel since 2026-11-22 23:00 UTC"
    silent = HealthAlarm.objects.get(kind="channel_silent")
    assert silent.subject_name == "Freezer (rh)"
    assert HealthAlarm.objects.filter(kind="no_data").count() == 1, (
        "a silent device: one alarm, not one per channel"
    )


FRIDAY_5PM = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


def test_business_hours_leave_the_weekend_quiet(smtp_inbox, db):  # noqa: F811
    make_user("boss", role="Admin")
    fridge = Device.objects.create(account=make_account(), vendor_id="1", name="Vaccine fridge", battery=5)

    check_device_health(now=FRIDAY_5PM)
    assert run_escalations(now=FRIDAY_5PM) == 1, "Friday 17:00 is business hours"
    Device.objects.create(account=fridge.account, vendor_id="2", name="Freezer", battery=4)
    check_device_health(now=FRIDAY_5PM + timedelta(hours=2))  # Friday 19:00: after hours
    late = Escalation.objects.get(health_alarm__device__name="Freezer")

    for moment in (
        FRIDAY_5PM + timedelta(hours=2),  # Friday evening
        FRIDAY_5PM + timedelta(hours=17),  # Saturday 10:00
        FRIDAY_5PM + timedelta(days=2, hours=-4),  # Sunday 13:00
        FRIDAY_5PM + timedelta(days=2, hours=14, minutes=59),  # Monday 07:59
    ):
        assert run_escalations(now=moment) == 0, f"{moment:%A %H:%M} is outside business hours"
    late.refresh_from_db()
    assert late.next_at == datetime(2026, 11, 30, 8, 0, tzinfo=UTC), "waits for Monday 08:00"
    # Monday 08:00: the freezer's first notice, and the fridge's daily repeat (due on Saturday).
    assert run_escalations(now=datetime(2026, 11, 30, 8, 0, tzinfo=UTC)) == 2
    assert sorted(m["Subject"] for m in smtp_inbox.messages[1:]) == [
        "[DEVICE HEALTH] Repeat: low battery: Vaccine fridge, unacknowledged",
        "[DEVICE HEALTH] low battery: Freezer, unacknowledged",
    ]


def test_a_policy_in_another_zone_keeps_its_working_days_across_a_daylight_saving_change(db):
    from alarms.models import EscalationPolicy

    policy = EscalationPolicy(
        name="Berlin office",
        time_zone="Europe/Berlin",
        quiet_hours_start=clock(18, 0),
        quiet_hours_end=clock(8, 0),
        quiet_days="5,6",
    )
    # Summer time ends in Berlin on Sunday 25 October 2026: Friday 19:00 CEST is 17:00 UTC, Monday 08:00
    # CET is 07:00 UTC.
    friday_evening = datetime(2026, 10, 23, 17, 0, tzinfo=UTC)
    assert policy.quiet_hours_end_after(friday_evening) == datetime(2026, 10, 26, 7, 0, tzinfo=UTC)
    assert policy.quiet_hours_end_after(datetime(2026, 10, 26, 9, 0, tzinfo=UTC)) is None  # Monday 10:00
    assert policy.quiet_hours_end_after(datetime(2026, 10, 23, 15, 59, tzinfo=UTC)) is None  # Friday 17:59
    policy.quiet_days = "0,1,2,3,4,5,6"
    try:
        policy.full_clean(exclude=["name"])
    except ValidationError as error:
        assert "never send a warning" in str(error)
    else:
        raise AssertionError("a policy quiet every day is accepted")


def test_the_admin_chooses_the_quiet_days_of_a_policy(admin_client):
    from alarms.models import EscalationPolicy

    default = EscalationPolicy.objects.get(for_device_health=True)
    assert default.quiet_days == "5,6", "the default device-health policy: business hours, Monday to Friday"
    page = admin_client.get(f"/admin/alarms/escalationpolicy/{default.pk}/change/").content.decode()
    ticked = set(re.findall(r'name="quiet_days" value="(\d)"[^>]*checked', page))
    assert ticked == {"5", "6"}, "Saturday and Sunday ticked"
    answer = admin_client.post(
        "/admin/alarms/escalationpolicy/add/",
        {
            "name": "Warehouse",
            "enabled": "on",
            "repeat_minutes": 60,
            "time_zone": "Europe/Berlin",
            "quiet_hours_start": "20:00",
            "quiet_hours_end": "07:00",
            "quiet_days": ["6"],
            "levels-TOTAL_FORMS": 0,
            "levels-INITIAL_FORMS": 0,
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:3000]
    assert EscalationPolicy.objects.get(name="Warehouse").quiet_days == "6"
