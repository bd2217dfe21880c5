"""Signed webhooks over a real Celery worker: excursion opened, acknowledged and closed reach a local HTTP
receiver, signed so that the README's published recipe verifies them; refusals are retried, then given up;
every try is in the delivery log."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import User
from django.db import connection

from alarms.models import WebhookDelivery, WebhookEndpoint
from coldchain.celery import app
from monitoring.excursion_actions import excursion_acknowledge, excursion_assign, excursion_close
from monitoring.models import Excursion
from tests.factories import PASSWORD
from tests.http_receiver import receivers  # noqa: F401  (the fixture)
from tests.test_alarms_escalation import fridge_channel, wait_for
from tests.test_celery import needs_redis
from tests.test_notifications import warm_spell

SECRET = "wh-secret-0123456789abcdefghijklmnopqrstuvwxyz"
README = Path(__file__).resolve().parent.parent / "README.md"


def published_recipe():
    """The Python recipe of the README's "Verifying a webhook", run as published."""
    text = README.read_text()
    section = text[text.index("### Verifying a webhook") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 (our own README)
    return namespace["verify"]


@needs_redis
@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_signed_webhooks_reach_the_receiver_and_verify_with_the_published_recipe(receivers, settings):  # noqa: F811
    app.control.purge()
    settings.WEBHOOK_RETRY_SECONDS = [0.2, 0.2]
    receiver, broken = receivers(), receivers()
    receiver.statuses = [500, 503]  # the first two tries of the first event are refused
    broken.status = 500
    WebhookEndpoint.objects.create(name="QMS", secret={"url": receiver.url(), "signing_secret": SECRET})
    WebhookEndpoint.objects.create(
        name="Ticketing (down)",
        secret={"url": broken.url(), "signing_secret": SECRET},
        on_acknowledged=False,
        on_closed=False,
    )
    qa = User.objects.create_user("qa", "qa@example.com", PASSWORD, first_name="Ana", last_name="Silva")
    # Segregation of duties: another user closes what Ana acknowledged.
    bob = User.objects.create_user("bob", "bob@example.com", PASSWORD, first_name="Bob", last_name="Builder")
    channel = fridge_channel()
    verify = published_recipe()

    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, shutdown_timeout=30):
        (excursion,) = warm_spell(channel)
        wait_for(lambda: len(receiver.requests) == 3)
        excursion_acknowledge(
            Excursion.objects.get(pk=excursion.pk), qa, "Door left open", PASSWORD, username="qa"
        )
        wait_for(lambda: len(receiver.requests) == 4)
        excursion_assign(Excursion.objects.get(pk=excursion.pk), qa, qa)
        excursion_close(
            Excursion.objects.get(pk=excursion.pk),
            bob,
            "no_product_impact",
            "Door alarm fixed",
            PASSWORD,
            product_impact="not_affected",
            username="bob",
        )
        wait_for(lambda: len(receiver.requests) == 5)
        wait_for(lambda: WebhookDelivery.objects.filter(status="failed").exists())

    events = [json.loads(r.body)["event"] for r in receiver.requests]
    assert events == ["excursion.opened"] * 3 + ["excursion.acknowledged", "excursion.closed"]
    for request in receiver.requests:
        assert verify(SECRET, request.headers, request.body), "the published recipe refuses our signature"
        assert not verify("another secret of the same length......", request.headers, request.body)
    first = receiver.requests[0]
    assert not verify(SECRET, first.headers, first.body.replace(b"12.0", b"11.0")), "a changed body verifies"
    old = {**first.headers, "X-Coldchain-Timestamp": str(int(time.time()) - 3600)}
    assert not verify(SECRET, old, first.body), "an hour-old request verifies: replays would pass"
    # The three tries of one delivery carry one delivery id, each signed anew.
    assert len({r.headers["X-Coldchain-Delivery"] for r in receiver.requests[:3]}) == 1
    closed = json.loads(receiver.requests[4].body)["excursion"]
    assert closed["state"] == "closed" and closed["closed_by"] == "Bob Builder"
    assert closed["disposition"] == "no_product_impact" and closed["peak_value"] == 12.0
    assert closed["url"].endswith(f"/excursions/{excursion.pk}/")

    log = list(
        WebhookDelivery.objects.order_by("id").values_list(
            "endpoint__name", "event", "status", "attempts", "response_status"
        )
    )
    assert log == [
        ("QMS", "excursion.opened", "delivered", 3, 200),
        ("Ticketing (down)", "excursion.opened", "failed", 3, 500),
        ("QMS", "excursion.acknowledged", "delivered", 1, 200),
        ("QMS", "excursion.closed", "delivered", 1, 200),
    ]
    assert len(broken.requests) == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM alarms_webhookendpoint")
        assert not [row for row in cursor.fetchall() if SECRET in row[0] or str(receiver.port) in row[0]]


def test_the_admin_keeps_the_webhooks_url_and_secret_hidden(receivers, admin_client):  # noqa: F811
    receiver = receivers()
    answer = admin_client.post(
        "/admin/alarms/webhookendpoint/add/",
        {
            "name": "QMS",
            "enabled": "on",
            "on_opened": "on",
            "on_closed": "on",
            "new_url": receiver.url(),
            "new_signing_secret": SECRET,
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:3000]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.signing_secret == SECRET and not endpoint.on_acknowledged
    page = admin_client.get(f"/admin/alarms/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert "a URL and a signing secret (hidden)" in page
    assert SECRET not in page and str(receiver.port) not in page
    short = admin_client.post(
        "/admin/alarms/webhookendpoint/add/",
        {"name": "Other", "enabled": "on", "new_url": receiver.url(), "new_signing_secret": "short"},
    )
    assert "Ensure this value has at least 32 characters" in short.content.decode()


@pytest.mark.django_db
def test_the_beat_has_the_escalation_and_webhook_schedules():
    from django_celery_beat.models import PeriodicTask

    escalations = PeriodicTask.objects.get(task="alarms.tasks.run_escalations")
    assert escalations.enabled and (escalations.interval.every, escalations.interval.period) == (1, "minutes")
    assert PeriodicTask.objects.get(task="alarms.tasks.queue_stuck_webhooks").enabled


def test_the_admin_sends_a_signed_test_event_and_sees_the_answer(receivers, admin_client):  # noqa: F811
    receiver = receivers()
    endpoint = WebhookEndpoint.objects.create(
        name="QMS", secret={"url": receiver.url(), "signing_secret": SECRET}
    )
    verify = published_recipe()

    def send_test():
        answer = admin_client.post(
            "/admin/alarms/webhookendpoint/",
            {"action": "send_test", "_selected_action": [endpoint.pk]},
            follow=True,
        )
        return answer.content.decode()

    page = send_test()
    assert "QMS: the test was delivered (HTTP 200)." in page
    (request,) = receiver.requests
    assert verify(SECRET, request.headers, request.body), "the published recipe refuses the test's signature"
    assert json.loads(request.body)["event"] == "test" and request.headers["X-Coldchain-Event"] == "test"

    receiver.status = 500
    page = send_test()
    assert "QMS: the test failed: the endpoint answered HTTP 500" in page
    assert len(receiver.requests) == 2, "a test is tried once: the admin waits for the answer"

    endpoint.refresh_from_db()
    endpoint.secret = {"url": "http://127.0.0.1:9/qms-hook", "signing_secret": SECRET}  # nothing listens
    endpoint.save(update_fields=["secret"])
    page = send_test()
    assert "QMS: the test failed: ConnectionError" in page
    assert "qms-hook" not in page and "127.0.0.1" not in page, "the URL is a secret too"

    log = list(
        WebhookDelivery.objects.order_by("id").values_list("event", "status", "attempts", "response_status")
    )
    assert log == [("test", "delivered", 1, 200), ("test", "failed", 1, 500), ("test", "failed", 1, None)]
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 2, "a failing endpoint shows on the sync status page"
    everything = page + admin_client.get("/admin/alarms/webhookdelivery/").content.decode()
    assert SECRET not in everything and str(receiver.port) not in everything
