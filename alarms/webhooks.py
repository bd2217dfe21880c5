"""Signed webhooks: excursion opened, acknowledged, closed, POSTed as JSON to each endpoint that wants it.

Each try carries ``X-Coldchain-Timestamp`` (Unix seconds) and ``X-Coldchain-Signature: sha256=<hex>``,
the HMAC-SHA256, keyed with the endpoint's secret, of the timestamp, a dot and the raw body
(``f"{timestamp}.".encode() + body``): a receiver checks it and refuses old timestamps, so a captured
request cannot be replayed later (recipe in the README). ``X-Coldchain-Delivery`` is the same at every
try of one delivery: a receiver can drop duplicates by it.

A delivery is made in the transaction of the change (so none is lost) and sent after the commit by the
notifications queue; a refusal (not 2xx) or a network error is tried again after each of
``WEBHOOK_RETRY_SECONDS``, then marked failed. Every try is in the delivery log (admin).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import requests
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from alarms.delivery import redact
from alarms.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent

TIMEOUT_SECONDS = 10


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def payload(event: str, excursion, delivery_id: uuid.UUID) -> dict:
    channel, device = excursion.channel, excursion.channel.device

    def who(user):
        return (user.get_full_name() or user.get_username()) if user else None

    return {
        "event": event,
        "delivery": str(delivery_id),
        "excursion": {
            "id": excursion.pk,
            "url": settings.SITE_URL + reverse("excursion_detail", args=[excursion.pk]),
            "device": {"name": device.name, "vendor_id": device.vendor_id, "site": device.site},
            "channel": channel.display_name,
            "unit": channel.get_unit_display(),
            "kind": excursion.kind,
            "severity": excursion.severity,
            "state": excursion.state,
            "low_limit": excursion.low_limit,
            "high_limit": excursion.high_limit,
            "started_at": _iso(excursion.started_at),
            "ended_at": _iso(excursion.ended_at),
            "peak_value": excursion.peak_value,
            "peak_at": _iso(excursion.peak_at),
            "acknowledged_at": _iso(excursion.acknowledged_at),
            "acknowledged_by": who(excursion.acknowledged_by),
            "acknowledgement_comment": excursion.acknowledgement_comment,
            "closed_at": _iso(excursion.closed_at),
            "closed_by": who(excursion.closed_by),
            "disposition": excursion.disposition,
            "root_cause": excursion.root_cause,
        },
    }


def excursion_event(excursion, event: str) -> list[WebhookDelivery]:
    """Make the deliveries of an event (inside the caller's transaction); they go out after the commit."""
    from alarms import tasks

    deliveries = []
    for endpoint in WebhookEndpoint.objects.filter(enabled=True):
        if not endpoint.wants(event):
            continue
        delivery_id = uuid.uuid4()
        body = json.dumps(payload(event, excursion, delivery_id), sort_keys=True)
        deliveries.append(
            WebhookDelivery.objects.create(
                endpoint=endpoint, event=event, excursion=excursion, delivery_id=delivery_id, body=body
            )
        )
    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: _queue(tasks.deliver_webhook, pk))
    return deliveries


def send_test(endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A signed test event, sent once while the admin waits (no retry), kept in the delivery log."""
    delivery_id = uuid.uuid4()
    body = {
        "event": WebhookEvent.TEST,
        "delivery": str(delivery_id),
        "endpoint": endpoint.name,
        "sent_at": timezone.now().isoformat(),
        "message": "A test from the cold-chain dashboard: the signature verifies with your secret.",
    }
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=WebhookEvent.TEST,
        delivery_id=delivery_id,
        body=json.dumps(body, sort_keys=True),
    )
    if not send(delivery):
        give_up(delivery)
    return delivery


def _queue(task, *args) -> None:
    try:
        task.delay(*args)
    except Exception:  # the beat's queue_stuck_webhooks sends it
        import logging

        logging.getLogger("alarms.webhooks").exception("could not queue a webhook delivery")


def send(delivery: WebhookDelivery) -> bool:
    """One try of a delivery. True when the endpoint answered 2xx."""
    endpoint = delivery.endpoint
    body = delivery.body.encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "coldchain-webhooks/1",
        "X-Coldchain-Event": delivery.event,
        "X-Coldchain-Delivery": str(delivery.delivery_id),
        "X-Coldchain-Timestamp": timestamp,
        "X-Coldchain-Signature": signature(endpoint.signing_secret, timestamp, body),
    }
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    try:
        answer = requests.post(
            endpoint.url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False
        )
        delivery.response_status = answer.status_code
        ok = 200 <= answer.status_code < 300
        delivery.error = "" if ok else f"the endpoint answered HTTP {answer.status_code}"
    except requests.RequestException as error:
        ok = False
        delivery.response_status = None
        delivery.error = redact(f"{type(error).__name__}: {error}", endpoint.url)[:300]
    if ok:
        delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, now
        endpoint.last_success_at, endpoint.consecutive_failures = now, 0
        endpoint.save(update_fields=["last_success_at", "consecutive_failures"])
    else:
        endpoint.last_failure_at, endpoint.last_failure = now, delivery.error
        endpoint.consecutive_failures += 1
        endpoint.save(update_fields=["last_failure_at", "last_failure", "consecutive_failures"])
    delivery.save(
        update_fields=["attempts", "last_attempt_at", "response_status", "error", "status", "delivered_at"]
    )
    return ok


def give_up(delivery: WebhookDelivery) -> None:
    delivery.status = DeliveryStatus.FAILED
    delivery.save(update_fields=["status"])


def queue_stuck_deliveries(older_than_seconds: int = 120) -> int:
    """Queue the deliveries never tried (a broker that could not be reached after the commit, a worker
    lost before its first try): the beat's safety net, every few minutes."""
    from datetime import timedelta

    from alarms import tasks

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stuck = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, attempts=0, created_at__lt=cutoff)
        .order_by("id")
        .values_list("pk", flat=True)[:500]
    )
    for pk in stuck:
        _queue(tasks.deliver_webhook, pk)
    return len(stuck)
