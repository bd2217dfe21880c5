"""Apprise notification channels: a json:// webhook channel delivers to a local HTTP receiver; a failing one
falls through to the next channel (or the email) at once, a target no channel reached is tried again
later with back-off by a re-scheduled task (no worker waits), and failures show on the sync status page;
the URL (with its token) is encrypted at rest and never shown or logged."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import User
from django.db import connection

from alarms.escalation import run_escalations
from alarms.models import EscalationLevel, EscalationPolicy, Notification, NotificationChannel
from coldchain.celery import app
from monitoring.excursion_actions import excursion_acknowledge
from monitoring.models import AlarmRule, AuditRecord, Channel, Device
from tests.factories import PASSWORD
from tests.http_receiver import receivers  # noqa: F401  (the fixture)
from tests.test_alarms_escalation import back_in_range, fridge_channel, person, policy_with_levels, wait_for
from tests.test_celery import needs_redis
from tests.test_notifications import FIXED_NOW, smtp_inbox, warm_spell  # noqa: F401  (the fixture)

TOKEN = "Tok3n-never-shown-9f2c"


def apprise_channel(receiver, name: str, user=None, position: int = 0) -> NotificationChannel:
    url = receiver.url("json", "/hook", credentials=f"alarm:{TOKEN}")
    return NotificationChannel.objects.create(name=name, user=user, position=position, secret={"url": url})


def test_a_users_webhook_channel_reaches_a_local_receiver_before_their_email(
    smtp_inbox,  # noqa: F811
    receivers,  # noqa: F811
    db,
):
    receiver = receivers()
    channel = fridge_channel()
    qa = person("qa")
    apprise_channel(receiver, "Phone of qa", user=qa)
    policy_with_levels(channel.device, (0, [qa], [], None))
    (excursion,) = warm_spell(channel)

    assert run_escalations(now=excursion.created_at) == 1

    (request,) = receiver.requests
    payload = json.loads(request.body)
    assert payload["title"].startswith("[ALARM]: out of range on Vaccine fridge (Measure)")
    assert f"/excursions/{excursion.pk}/" in payload["message"]
    assert request.headers["Authorization"].startswith("Basic ")  # the URL's user and token, as Apprise sends
    assert smtp_inbox.messages == [], "the first channel that works is enough"
    (notification,) = Notification.objects.filter(excursion=excursion)
    assert (notification.via, notification.recipient, notification.status) == (
        "apprise",
        "Phone of qa",
        "delivered",
    )


def test_a_failing_channel_falls_through_at_once_and_shows_on_the_sync_page(
    smtp_inbox,  # noqa: F811
    receivers,  # noqa: F811
    settings,
    client,
    caplog,
    db,
):
    settings.ALARM_DELIVERY_RETRY_SECONDS = [30, 60]  # a worker waiting in place would take minutes
    broken, working = receivers(), receivers()
    broken.status = 500
    channel = fridge_channel()
    qa, boss = person("qa"), person("boss")
    apprise_channel(broken, "Pager of qa", user=qa, position=0)
    apprise_channel(working, "Phone of qa", user=qa, position=1)
    apprise_channel(broken, "Pager of boss", user=boss)  # then boss's email
    policy = policy_with_levels(channel.device, (0, [qa, boss], [], None))
    room = apprise_channel(broken, "Teams: QA room")
    spare = apprise_channel(working, "Teams: spare room", position=1)
    policy.levels.get().channels.add(room, spare)
    (excursion,) = warm_spell(channel)

    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        assert run_escalations(now=excursion.created_at) == 3
    assert time.monotonic() - started < 10, "the next channel is tried at once, no waiting in place"

    assert len(broken.requests) == 3, "each failing channel tried once: the next one reaches the person"
    assert len(working.requests) == 2
    assert [e.rcpt_tos for e in smtp_inbox.envelopes] == [["boss@example.com"]]
    log = list(
        Notification.objects.filter(excursion=excursion).values_list("recipient", "status", "attempts")
    )
    assert log == [
        ("Pager of qa", "failed", 1),
        ("Phone of qa", "delivered", 1),
        ("Pager of boss", "failed", 1),
        ("boss@example.com", "delivered", 1),
        ("Teams: QA room", "failed", 1),
        ("Teams: spare room", "delivered", 1),
    ]
    failure = Notification.objects.filter(status="failed").first().error
    assert failure.startswith("Apprise could not deliver")

    client.force_login(User.objects.create_superuser("admin", "admin@example.com", PASSWORD))
    sync_page = client.get("/sync/").content.decode()
    assert "Notification channels failing" in sync_page
    assert "Pager of qa" in sync_page and "Teams: QA room" in sync_page
    assert "Phone of qa" not in sync_page
    excursion_page = client.get(f"/excursions/{excursion.pk}/").content.decode()
    assert "apprise: Pager of qa" in excursion_page and "failed</span>: Apprise could not" in excursion_page

    # The token is nowhere: not in the logs, the log of notices, the audit trail or the pages.
    everything = [r.getMessage() for r in caplog.records] + [sync_page, excursion_page]
    everything += [n.error for n in Notification.objects.all()]
    everything += [json.dumps(r.changes) for r in AuditRecord.objects.all()]
    assert not [text for text in everything if TOKEN in text]


@needs_redis
@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_target_no_channel_reached_is_tried_again_later_and_the_worker_is_free_meanwhile(
    receivers,  # noqa: F811
    settings,
):
    app.control.purge()
    settings.ALARM_DELIVERY_RETRY_SECONDS = [3, 3]
    flaky, working = receivers(), receivers()
    flaky.statuses = [500, 503]  # the room's channel refuses twice, then delivers
    channel = fridge_channel()
    policy = policy_with_levels(channel.device, (0, [], [], None))
    policy.levels.get().channels.add(apprise_channel(flaky, "Teams: QA room"))
    freezer = Device.objects.create(account=channel.device.account, vendor_id="7", name="Freezer")
    probe = Channel.objects.create(device=freezer, name="Measure", quantity="temperature", unit="C")
    AlarmRule.objects.create(name="2–8", channel=probe, low_limit=2, high_limit=8)
    other = EscalationPolicy.objects.create(name="Freezers")
    other.devices.add(freezer)
    level = EscalationLevel.objects.create(policy=other, position=1)
    level.channels.add(apprise_channel(working, "Teams: freezer room"))

    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, shutdown_timeout=30):
        (excursion,) = warm_spell(channel)  # its commit queues the first run: the room's channel refuses
        wait_for(lambda: len(flaky.requests) == 1)
        refused_at = time.monotonic()
        warm_spell(probe)  # another excursion while the first waits for its retry
        wait_for(lambda: len(working.requests) == 1)
        assert time.monotonic() - refused_at < 3 and len(flaky.requests) == 1, (
            "the single worker sent the freezer's notice during the fridge's back-off: it does not wait"
        )
        wait_for(lambda: len(flaky.requests) == 3)
        wait_for(lambda: Notification.objects.filter(excursion=excursion, status="delivered").exists())

    log = list(
        Notification.objects.filter(excursion=excursion).values_list(
            "recipient", "status", "attempts", "sent_at"
        )
    )
    assert [row[:3] for row in log] == [
        ("Teams: QA room", "failed", 1),
        ("Teams: QA room", "failed", 2),
        ("Teams: QA room", "delivered", 3),
    ]
    waits = [(later[3] - earlier[3]).total_seconds() for earlier, later in zip(log, log[1:], strict=False)]
    assert all(wait >= 2.9 for wait in waits), f"the back-off is kept: {waits}"
    assert NotificationChannel.objects.get(name="Teams: QA room").consecutive_failures == 0


@needs_redis
@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_back_in_range_is_tried_again_later_and_an_acknowledgement_stops_the_retries(
    receivers,  # noqa: F811
    settings,
):
    app.control.purge()
    settings.ALARM_DELIVERY_RETRY_SECONDS = [2.5, 2.5]
    room_receiver, pager_receiver = receivers(), receivers()
    channel = fridge_channel()
    qa = person("qa")
    qa.email = ""  # the pager is qa's only route
    qa.save()
    apprise_channel(pager_receiver, "Pager of qa", user=qa)
    pager_receiver.status = 500
    policy = policy_with_levels(channel.device, (0, [qa], [], None))
    policy.levels.get().channels.add(apprise_channel(room_receiver, "Teams: QA room"))

    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, shutdown_timeout=30):
        (excursion,) = warm_spell(channel)
        wait_for(lambda: len(room_receiver.requests) == 1 and len(pager_receiver.requests) == 1)
        first_try = time.monotonic()
        # qa is not reached: due again after 2.5 s and 5 s; acknowledged meanwhile, so never again.
        excursion_acknowledge(excursion, qa, "On my way", PASSWORD, username="qa")
        assert time.monotonic() - first_try < 2.5, "the acknowledgement came after the retry: no proof"
        time.sleep(6)
        assert len(pager_receiver.requests) == 1, "a retry after the acknowledgement"

        room_receiver.statuses = [500]  # back in range: the room's channel refuses once, then delivers
        back_in_range(channel, FIXED_NOW + timedelta(minutes=90))
        wait_for(lambda: len(room_receiver.requests) == 3)

    back = list(
        Notification.objects.filter(excursion=excursion, kind="back_in_range").values_list(
            "recipient", "status", "attempts", "sent_at"
        )
    )
    assert [row[:3] for row in back] == [
        ("Teams: QA room", "failed", 1),
        ("Teams: QA room", "delivered", 2),
    ]
    assert (back[1][3] - back[0][3]).total_seconds() >= 2.4, "the back-off is kept"
    assert json.loads(room_receiver.requests[2].body)["title"].startswith("Back in range")


def test_the_admin_sends_a_test_and_never_shows_the_url(receivers, admin_client):  # noqa: F811
    receiver = receivers()
    channel = apprise_channel(receiver, "Teams: QA room")
    answer = admin_client.post(
        "/admin/alarms/notificationchannel/",
        {"action": "send_test", "_selected_action": [channel.pk]},
        follow=True,
    )
    assert "Teams: QA room: the test was delivered." in answer.content.decode()
    (request,) = receiver.requests
    assert json.loads(request.body)["title"] == "Test: Teams: QA room"

    receiver.status = 500
    answer = admin_client.post(
        "/admin/alarms/notificationchannel/",
        {"action": "send_test", "_selected_action": [channel.pk]},
        follow=True,
    )
    assert "Teams: QA room: the test failed: Apprise could not deliver" in answer.content.decode()
    assert len(receiver.requests) == 2, "a test is tried once: the admin waits for the answer"

    page = admin_client.get(f"/admin/alarms/notificationchannel/{channel.pk}/change/").content.decode()
    assert "Set: json://… (hidden)" in page
    assert TOKEN not in page and str(receiver.port) not in page


def test_the_admin_replaces_the_url_and_it_is_encrypted_at_rest(receivers, admin_client):  # noqa: F811
    receiver = receivers()
    url = receiver.url("json", "/hook", credentials=f"alarm:{TOKEN}")
    answer = admin_client.post(
        "/admin/alarms/notificationchannel/add/",
        {"name": "Phone", "position": 0, "enabled": "on", "new_url": url},
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    channel = NotificationChannel.objects.get(name="Phone")
    assert channel.url == url
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM alarms_notificationchannel WHERE id = %s", [channel.pk])
        (stored,) = cursor.fetchone()
    assert TOKEN not in stored and "127.0.0.1" not in stored
    refused = admin_client.post(
        "/admin/alarms/notificationchannel/add/",
        {"name": "Nonsense", "position": 0, "enabled": "on", "new_url": "nosuchschema://x"},
    )
    assert "Apprise does not know this URL" in refused.content.decode()
    # Saving without a new URL keeps the stored one.
    admin_client.post(
        f"/admin/alarms/notificationchannel/{channel.pk}/change/",
        {"name": "Phone of qa", "position": 0, "enabled": "on", "new_url": ""},
    )
    channel.refresh_from_db()
    assert channel.name == "Phone of qa" and channel.url == url


def test_rotating_the_keys_re_encrypts_the_channels_urls(settings, db):
    from io import StringIO

    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old_key = settings.CREDENTIALS_KEYS[0]
    channel = NotificationChannel.objects.create(name="Phone", secret={"url": f"ntfys://{TOKEN}"})
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [new_key, old_key]
    output = StringIO()
    call_command("rotate_credentials", stdout=output)
    assert "Re-encrypted 1 row(s) of alarms_notificationchannel." in output.getvalue()
    settings.CREDENTIALS_KEYS = [new_key]  # the old key is gone
    assert NotificationChannel.objects.get(pk=channel.pk).url == f"ntfys://{TOKEN}"
