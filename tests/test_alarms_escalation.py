"""Escalation policies: levels in turn, the last one repeated until someone acknowledges, over a real Celery
worker and a real SMTP server, with time moved forward through the tasks' ``now``."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import Group, User

from alarms.escalation import policy_for_device, run_escalations
from alarms.models import (
    Escalation,
    EscalationLevel,
    EscalationPolicy,
    Notification,
    OnCallRota,
    OnCallShift,
    Weekday,
)
from alarms.oncall import on_call
from alarms.tasks import run_escalations as run_escalations_task
from coldchain.celery import app
from monitoring.excursion_actions import excursion_acknowledge
from monitoring.excursions import evaluate_channels
from monitoring.models import AlarmRule, AuditRecord, Channel, DeploymentGroup, Device, Excursion, Reading
from tests.conftest import FIXED_NOW
from tests.factories import PASSWORD, make_account
from tests.test_celery import needs_redis
from tests.test_notifications import smtp_inbox, warm_spell  # noqa: F401  (the fixture)


def person(name: str, *groups: str) -> User:
    user = User.objects.create_user(username=name, password=PASSWORD, email=f"{name}@example.com")
    for group in groups:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


def rota(name="Night and day", zone="Europe/Berlin", shifts=()) -> OnCallRota:
    made = OnCallRota.objects.create(name=name, time_zone=zone)
    for user, start_day, start, end_day, end in shifts:
        OnCallShift.objects.create(
            rota=made, user=user, start_day=start_day, start_time=start, end_day=end_day, end_time=end
        )
    return made


def fridge_channel() -> Channel:
    device = Device.objects.create(account=make_account(), vendor_id="6128", name="Vaccine fridge")
    channel = Channel.objects.create(device=device, name="Measure", quantity="temperature", unit="C")
    AlarmRule.objects.create(
        name="2–8 °C", channel=channel, low_limit=2, high_limit=8, recipients="old-list@example.com"
    )
    return channel


def policy_with_levels(device, *levels, repeat_minutes=30, **fields) -> EscalationPolicy:
    policy = EscalationPolicy.objects.create(name="Vaccines", repeat_minutes=repeat_minutes, **fields)
    policy.devices.add(device)
    for position, (delay, users, groups, on_call_rota) in enumerate(levels, start=1):
        level = EscalationLevel.objects.create(
            policy=policy, position=position, delay_minutes=delay, rota=on_call_rota
        )
        level.users.add(*users)
        level.groups.add(*[Group.objects.get(name=g) for g in groups])
    return policy


def back_in_range(channel: Channel, at: datetime) -> None:
    rows = [Reading(channel=channel, timestamp=at, value=5.0)]
    Reading.objects.bulk_create(rows)
    evaluate_channels([channel.pk])


def wait_for(check, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("the worker did not get there in time")


def rcpts(inbox) -> list[str]:
    return [",".join(envelope.rcpt_tos) for envelope in inbox.envelopes]


@needs_redis
@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_an_unacknowledged_excursion_walks_every_level_and_repeats_the_last_until_acknowledged(
    smtp_inbox,  # noqa: F811
    client,
):
    app.control.purge()
    channel = fridge_channel()
    qa = person("qa")
    person("boss", "Supervisors")
    night = person("night")
    everyone_on_call = rota(shifts=[(night, Weekday.MONDAY, clock(0), Weekday.MONDAY, clock(0))])
    policy_with_levels(
        channel.device,
        (0, [qa], [], None),
        (15, [], ["Supervisors"], None),
        (15, [], [], everyone_on_call),
    )

    def step(minutes: int) -> None:
        run_escalations_task.delay(now=(opened + timedelta(minutes=minutes)).isoformat())

    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, shutdown_timeout=30):
        (excursion,) = warm_spell(channel)  # its commit queues the first run: level 1 goes at once
        opened = excursion.created_at
        wait_for(lambda: len(smtp_inbox.envelopes) == 1)
        step(10)  # level 2 is not due yet
        step(15)
        wait_for(lambda: len(smtp_inbox.envelopes) == 2)
        step(30)
        wait_for(lambda: len(smtp_inbox.envelopes) == 3)
        step(45)  # the last level repeats every 30 minutes, not 15
        step(60)
        wait_for(lambda: len(smtp_inbox.envelopes) == 4)
        step(90)
        wait_for(lambda: len(smtp_inbox.envelopes) == 5)
        assert rcpts(smtp_inbox) == [
            "qa@example.com",
            "boss@example.com",
            "night@example.com",
            "night@example.com",
            "night@example.com",
        ]
        subjects = [m["Subject"] for m in smtp_inbox.messages]
        assert subjects[0].startswith("[ALARM]: out of range on Vaccine fridge")
        assert subjects[1].startswith("[ALARM] Escalation level 2:")
        assert subjects[3].startswith("[ALARM] Repeat:")
        assert (
            "repeats until someone acknowledges" in smtp_inbox.messages[4].get_body(("plain",)).get_content()
        )

        excursion_acknowledge(
            Excursion.objects.get(pk=excursion.pk), qa, "Door closed", PASSWORD, username="qa"
        )
        escalation = Escalation.objects.get(excursion=excursion)
        assert escalation.stopped_at is not None and escalation.stop_reason == "acknowledged"
        step(120)
        step(500)
        # Back in range: everyone reached hears it once, with the duration and the peak. Queued after the
        # runs above, so once it is there they were done, and none of them sent anything.
        back_in_range(channel, FIXED_NOW + timedelta(minutes=90))
        wait_for(lambda: len(smtp_inbox.envelopes) == 8)
        time.sleep(1)

    assert len(smtp_inbox.envelopes) == 8, "a notice went out after the acknowledgement"
    assert sorted(rcpts(smtp_inbox)[5:]) == ["boss@example.com", "night@example.com", "qa@example.com"]
    back = smtp_inbox.messages[5]
    assert back["Subject"].strip() == "Back in range: Vaccine fridge (Measure) after 1 h 20 min, peak 12.0 °C"
    assert "Duration: 1 h 20 min" in back.get_body(("plain",)).get_content()
    assert "old-list@example.com" not in ",".join(rcpts(smtp_inbox)), "the policy replaces the rule's list"

    log = list(
        Notification.objects.filter(excursion=excursion).values_list("kind", "level", "recipient", "status")
    )
    assert log[:5] == [
        ("escalation", 1, "qa@example.com", "delivered"),
        ("escalation", 2, "boss@example.com", "delivered"),
        ("escalation", 3, "night@example.com", "delivered"),
        ("repeat", 3, "night@example.com", "delivered"),
        ("repeat", 3, "night@example.com", "delivered"),
    ]
    trail = AuditRecord.objects.filter(
        model="monitoring.excursion", object_id=str(excursion.pk), action="notify"
    )
    assert trail.count() == 8
    assert "Level 2 to boss@example.com by email: delivered" in [r.changes["notification"][1] for r in trail]
    # The roles of the migrations are gone in a test that commits: an administrator reads the page.
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", PASSWORD))
    page = client.get(f"/excursions/{excursion.pk}/").content.decode()
    assert "Escalation policy “Vaccines”: stopped (acknowledged)" in page
    assert page.count("email: night@example.com") == 4  # three notices and the back-in-range one


def test_an_on_call_rota_picks_the_right_person_across_the_week_end_and_daylight_saving_changes(db):
    night, day, weekend = person("night"), person("day"), person("weekend")
    berlin = rota(
        shifts=[
            # Sunday evening to Monday morning: through the end of the week.
            (night, Weekday.SUNDAY, clock(20), Weekday.MONDAY, clock(8)),
            (day, Weekday.MONDAY, clock(8), Weekday.SUNDAY, clock(8)),
            (weekend, Weekday.SUNDAY, clock(8), Weekday.SUNDAY, clock(20)),
        ]
    )
    # Sunday 29 March 2026, 02:00 CET -> 03:00 CEST in Berlin.
    assert on_call(berlin, datetime(2026, 3, 29, 12, 0, tzinfo=UTC)) == [weekend]  # 14:00 CEST
    assert on_call(berlin, datetime(2026, 3, 29, 21, 59, tzinfo=UTC)) == [night]  # Sunday 23:59 local
    assert on_call(berlin, datetime(2026, 3, 29, 22, 0, tzinfo=UTC)) == [night]  # Monday 00:00: a new week
    # Monday 06:30 UTC is 08:30 in summer time: the day shift (in winter time it would be the night's).
    assert on_call(berlin, datetime(2026, 3, 30, 6, 30, tzinfo=UTC)) == [day]
    assert on_call(berlin, datetime(2026, 3, 30, 5, 59, tzinfo=UTC)) == [night]
    # Sunday 25 October 2026, 03:00 CEST -> 02:00 CET: Monday 06:30 UTC is 07:30 local, still night.
    assert on_call(berlin, datetime(2026, 10, 26, 6, 30, tzinfo=UTC)) == [night]
    assert on_call(berlin, datetime(2026, 10, 26, 7, 0, tzinfo=UTC)) == [day]
    # That Sunday 06:59 UTC is 07:59 local (08:59 the day before the change): still the week's day shift.
    assert on_call(berlin, datetime(2026, 10, 25, 6, 59, tzinfo=UTC)) == [day]
    assert on_call(berlin, datetime(2026, 10, 25, 7, 0, tzinfo=UTC)) == [weekend]


def test_the_rota_level_reaches_whoever_is_on_call_when_it_fires(smtp_inbox, db):  # noqa: F811
    channel = fridge_channel()
    night, day = person("night"), person("day")
    shifts = rota(
        shifts=[
            (night, Weekday.SUNDAY, clock(20), Weekday.MONDAY, clock(8)),
            (day, Weekday.MONDAY, clock(8), Weekday.SUNDAY, clock(20)),
        ]
    )
    policy_with_levels(channel.device, (0, [], [], shifts), repeat_minutes=60)
    (excursion,) = warm_spell(channel)
    monday_7_30_berlin = datetime(2026, 10, 26, 6, 30, tzinfo=UTC)  # winter time
    Escalation.objects.filter(excursion=excursion).update(next_at=monday_7_30_berlin)
    assert run_escalations(now=monday_7_30_berlin) == 1
    assert run_escalations(now=monday_7_30_berlin + timedelta(minutes=59)) == 0
    assert run_escalations(now=monday_7_30_berlin + timedelta(minutes=60)) == 1  # 08:30: the day shift
    assert rcpts(smtp_inbox) == ["night@example.com", "day@example.com"]


def test_warnings_wait_for_the_end_of_the_quiet_hours_and_alarms_never_do(smtp_inbox, db):  # noqa: F811
    channel = fridge_channel()
    qa = person("qa")
    now = datetime.now(UTC)
    policy_with_levels(
        channel.device,
        (0, [qa], [], None),
        repeat_minutes=600,
        time_zone="UTC",
        quiet_hours_start=(now - timedelta(hours=1)).time().replace(second=0, microsecond=0),
        quiet_hours_end=(now + timedelta(hours=2)).time().replace(second=0, microsecond=0),
    )
    AlarmRule.objects.filter(channel=channel).update(severity="warning")
    (warning,) = warm_spell(channel)
    assert run_escalations(now=warning.created_at) == 0
    assert smtp_inbox.messages == []
    AlarmRule.objects.filter(channel=channel).update(severity="alarm")
    second = Channel.objects.create(device=channel.device, name="Measure2", quantity="temperature", unit="C")
    AlarmRule.objects.create(name="alarm", channel=second, low_limit=2, high_limit=8)
    (alarm,) = warm_spell(second)
    assert run_escalations(now=alarm.created_at) == 1
    assert smtp_inbox.messages[0]["Subject"].startswith("[ALARM]")
    assert run_escalations(now=now + timedelta(hours=2, minutes=1)) == 1
    assert smtp_inbox.messages[1]["Subject"].startswith("[WARNING]")


def test_without_a_policy_the_rules_own_emails_go_out_as_before(smtp_inbox, db):  # noqa: F811
    channel = fridge_channel()
    (excursion,) = warm_spell(channel)
    assert not Escalation.objects.filter(excursion=excursion).exists()
    assert rcpts(smtp_inbox) == ["old-list@example.com"]


def test_a_groups_policy_applies_when_the_device_has_none_of_its_own(db):
    channel = fridge_channel()
    device = channel.device
    group = DeploymentGroup.objects.create(name="Pharmacy")
    device.group = group
    device.save(update_fields=["group"])
    by_group = EscalationPolicy.objects.create(name="Pharmacy policy")
    by_group.groups.add(group)
    assert policy_for_device(device) == by_group
    own = EscalationPolicy.objects.create(name="This fridge")
    own.devices.add(device)
    assert policy_for_device(device) == own
