"""Apprise notification channels: a json:// webhook channel delivers to a local HTTP receiver; a failing one
is retried with back-off, falls through to the next channel (or the email), and shows on the sync status
page; the URL (with its token) is encrypted at rest and never shown or logged."""

from __future__ import annotations

import json
import logging

from django.contrib.auth.models import User
from django.db import connection

from alarms.escalation import run_escalations
from alarms.models import Notification, NotificationChannel
from monitoring.models import AuditRecord
from tests.factories import PASSWORD
from tests.http_receiver import receivers  # noqa: F401  (the fixture)
from tests.test_alarms_escalation import fridge_channel, person, policy_with_levels
from tests.test_notifications import smtp_inbox, warm_spell  # noqa: F401  (the fixture)

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


def test_a_failing_channel_is_retried_then_falls_through_and_shows_on_the_sync_page(
    smtp_inbox,  # noqa: F811
    receivers,  # noqa: F811
    settings,
    client,
    caplog,
    db,
):
    settings.ALARM_DELIVERY_RETRY_SECONDS = [0.05, 0.1]
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

    with caplog.at_level(logging.DEBUG):
        assert run_escalations(now=excursion.created_at) == 3

    assert len(broken.requests) == 9, "each failing channel is tried three times (two retries)"
    assert len(working.requests) == 2
    assert [e.rcpt_tos for e in smtp_inbox.envelopes] == [["boss@example.com"]]
    log = list(
        Notification.objects.filter(excursion=excursion).values_list("recipient", "status", "attempts")
    )
    assert log == [
        ("Pager of qa", "failed", 3),
        ("Phone of qa", "delivered", 1),
        ("Pager of boss", "failed", 3),
        ("boss@example.com", "delivered", 1),
        ("Teams: QA room", "failed", 3),
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
    assert "apprise: Pager of qa" in excursion_page and "failed</span> after 3 tries" in excursion_page

    # The token is nowhere: not in the logs, the log of notices, the audit trail or the pages.
    everything = [r.getMessage() for r in caplog.records] + [sync_page, excursion_page]
    everything += [n.error for n in Notification.objects.all()]
    everything += [json.dumps(r.changes) for r in AuditRecord.objects.all()]
    assert not [text for text in everything if TOKEN in text]


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
