"""Suppression windows: an excursion inside a planned intervention notifies nobody and is recorded as
suppressed; one that outlasts its window becomes a normal excursion and notifies."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from datetime import time as clock

import pypdf
from django.contrib.auth.models import User

from alarms.escalation import run_escalations
from alarms.models import (
    Escalation,
    ExcursionSuppression,
    SuppressionWindow,
    WebhookDelivery,
    WebhookEndpoint,
)
from monitoring.models import AuditRecord, Channel
from monitoring.reports import build_report, render_pdf
from tests.conftest import FIXED_NOW
from tests.factories import PASSWORD
from tests.test_alarms_escalation import back_in_range, fridge_channel, person, policy_with_levels, rcpts
from tests.test_notifications import smtp_inbox, warm_spell  # noqa: F401  (the fixture)


def defrost(channel: Channel, **fields) -> SuppressionWindow:
    return SuppressionWindow.objects.create(
        kind="defrost", reason="Weekly defrost of the vaccine fridge", device=channel.device, **fields
    )


def with_webhook() -> None:
    WebhookEndpoint.objects.create(
        name="QMS", secret={"url": "http://127.0.0.1:9/hook", "signing_secret": "s" * 40}
    )


def test_an_excursion_inside_a_window_notifies_nobody_and_is_reported_as_suppressed(
    smtp_inbox,  # noqa: F811
    client,
    db,
):
    channel = fridge_channel()
    policy_with_levels(channel.device, (0, [person("qa")], [], None))
    with_webhook()
    defrost(channel, starts_at=FIXED_NOW - timedelta(minutes=10), ends_at=FIXED_NOW + timedelta(minutes=90))
    (excursion,) = warm_spell(channel)  # out of range from 12:10
    back_in_range(channel, FIXED_NOW + timedelta(minutes=60))  # and back at 13:00, inside the window

    assert run_escalations(now=excursion.created_at + timedelta(hours=3)) == 0
    assert smtp_inbox.messages == [], "neither the policy nor the rule's list hears of it"
    assert not WebhookDelivery.objects.exists()
    suppression = ExcursionSuppression.objects.get(excursion=excursion)
    assert suppression.kept_at is not None and suppression.lifted_at is None
    assert Escalation.objects.get(excursion=excursion).stop_reason == "suppressed"
    trail = AuditRecord.objects.filter(model="monitoring.excursion", object_id=str(excursion.pk))
    assert any("Weekly defrost of the vaccine fridge" in str(r.changes.get("suppressed")) for r in trail)

    client.force_login(User.objects.create_superuser("admin", "admin@example.com", PASSWORD))
    page = client.get(f"/excursions/{excursion.pk}/").content.decode()
    assert "Suppressed</span> defrost: Weekly defrost of the vaccine fridge" in page
    assert "it ended inside the window: nobody was notified" in page

    report = build_report(FIXED_NOW - timedelta(hours=1), FIXED_NOW + timedelta(hours=3))
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(render_pdf(report))).pages)
    assert "Suppressed (defrost: Weekly defrost of the vaccine fridge)." in " ".join(text.split())


def test_an_excursion_that_outlasts_its_window_becomes_a_normal_one_and_notifies(
    smtp_inbox,  # noqa: F811
    db,
):
    channel = fridge_channel()
    policy_with_levels(channel.device, (0, [person("qa")], [], None))
    with_webhook()
    # Fridays (FIXED_NOW is Friday 20 November 2026, 12:00 UTC), 11:50 to 12:30.
    defrost(channel, weekdays="4", daily_start=clock(11, 50), duration_minutes=40, time_zone="UTC")
    (excursion,) = warm_spell(channel)  # out of range from 12:10, still at 12:50
    Channel.objects.filter(pk=channel.pk).update(last_reading_at=FIXED_NOW + timedelta(minutes=50))
    assert ExcursionSuppression.objects.filter(excursion=excursion, lifted_at=None).exists()
    assert smtp_inbox.messages == [] and not WebhookDelivery.objects.exists()

    assert run_escalations(now=excursion.created_at) == 1  # the window is long over: lifted, then level 1
    assert rcpts(smtp_inbox) == ["qa@example.com"]
    assert list(WebhookDelivery.objects.values_list("event", flat=True)) == ["excursion.opened"]
    assert ExcursionSuppression.objects.get(excursion=excursion).lifted_at is not None
    trail = AuditRecord.objects.filter(model="monitoring.excursion", object_id=str(excursion.pk))
    assert any("a normal excursion now" in r.reason for r in trail)


def test_without_a_policy_the_rules_email_waits_for_the_window_too(smtp_inbox, db):  # noqa: F811
    channel = fridge_channel()
    defrost(channel, starts_at=FIXED_NOW, ends_at=FIXED_NOW + timedelta(minutes=20))
    (excursion,) = warm_spell(channel)
    assert smtp_inbox.messages == []
    Channel.objects.filter(pk=channel.pk).update(last_reading_at=FIXED_NOW + timedelta(minutes=50))
    run_escalations(now=excursion.created_at)
    assert rcpts(smtp_inbox) == ["old-list@example.com"]


def test_a_window_for_another_device_or_a_disabled_one_suppresses_nothing(smtp_inbox, db):  # noqa: F811
    channel = fridge_channel()
    defrost(channel, starts_at=FIXED_NOW, ends_at=FIXED_NOW + timedelta(hours=2), enabled=False)
    (excursion,) = warm_spell(channel)
    assert not ExcursionSuppression.objects.exists()
    assert rcpts(smtp_inbox) == ["old-list@example.com"]


def test_a_recurring_window_runs_past_midnight_on_the_local_clock_across_a_dst_change(db):
    channel = fridge_channel()
    # Sundays 23:30 to 00:30 in Berlin; 29 March 2026 is the Sunday summer time starts.
    window = defrost(
        channel, weekdays="6", daily_start=clock(23, 30), duration_minutes=60, time_zone="Europe/Berlin"
    )
    inside = datetime(2026, 3, 29, 21, 45, tzinfo=UTC)  # 23:45 CEST
    start, end = window.occurrence_at(inside)
    assert (start.astimezone(UTC), end.astimezone(UTC)) == (
        datetime(2026, 3, 29, 21, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 22, 30, tzinfo=UTC),
    )
    assert window.occurrence_at(datetime(2026, 3, 29, 22, 15, tzinfo=UTC))  # Monday 00:15 local
    assert window.occurrence_at(datetime(2026, 3, 29, 22, 30, tzinfo=UTC)) is None
    assert window.occurrence_at(datetime(2026, 3, 22, 22, 45, tzinfo=UTC))  # a week before: 23:45 CET
    assert window.occurrence_at(datetime(2026, 3, 28, 22, 45, tzinfo=UTC)) is None  # a Saturday


def test_the_admin_creates_a_window_with_its_reason_and_the_trail_says_who(admin_client, db):
    channel = fridge_channel()
    answer = admin_client.post(
        "/admin/alarms/suppressionwindow/add/",
        {
            "kind": "maintenance",
            "reason": "Compressor service by Frigotech",
            "device": channel.device.pk,
            "starts_at_0": "2026-11-20",
            "starts_at_1": "08:00",
            "ends_at_0": "2026-11-20",
            "ends_at_1": "12:00",
            "time_zone": "UTC",
            "enabled": "on",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:3000]
    window = SuppressionWindow.objects.get()
    assert window.created_by.username == "admin"
    (created,) = AuditRecord.objects.filter(model="alarms.suppressionwindow", action="create")
    assert created.username == "admin" and created.changes["reason"][1] == "Compressor service by Frigotech"
    refused = admin_client.post(
        "/admin/alarms/suppressionwindow/add/",
        {"kind": "defrost", "reason": "No scope", "weekdays": ["6"], "time_zone": "UTC", "enabled": "on"},
    )
    assert "Choose exactly one of: a device, a channel, a deployment group." in refused.content.decode()
