"""Notification channels: checking an Apprise URL, the admin's "send a test", failing channels for the
sync status page."""

from __future__ import annotations

from django.utils import timezone

from alarms.delivery import Message, deliver, routes_for_channels
from alarms.models import Notification, NotificationChannel, NotificationKind, WebhookEndpoint


def is_apprise_url(url: str) -> bool:
    import apprise

    return apprise.Apprise().add(url)


def send_test(channel: NotificationChannel) -> Notification:
    """One test notice through the channel, tried once (never again later: the admin waits for the
    answer)."""
    text = f"A test from the cold-chain dashboard through the channel {channel.name}. No action needed."
    message = Message(subject=f"Test: {channel.name}", text=text, html=f"<p>{text}</p>")
    stamp = timezone.now().isoformat()
    deliver(
        f"test:{channel.pk}:{stamp}",
        routes_for_channels([channel]),
        message,
        kind=NotificationKind.TEST,
    )
    return Notification.objects.filter(target_key=f"test:{channel.pk}:{stamp}").latest("id")


def failing_channels() -> list[NotificationChannel]:
    return list(
        NotificationChannel.objects.filter(enabled=True, consecutive_failures__gt=0)
        .select_related("user")
        .order_by("-last_failure_at")
    )


def failing_webhooks() -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(enabled=True, consecutive_failures__gt=0).order_by("name"))
