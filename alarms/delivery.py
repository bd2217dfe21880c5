"""Reaching a target (a user, or a level's shared channels) by the first route that works.

A user's routes are their own Apprise channels in order, then their email (built in). Each route is tried
once; when it fails, the next route is tried at once (at 3 a.m. someone is reached now rather than after
the back-off). A target none of whose routes delivered is tried again later, from its first route, after
each of ``ALARM_DELIVERY_RETRY_SECONDS`` in turn: by a task scheduled with that countdown
(``alarms.tasks.retry_level``, ``notify_back_in_range``), so no worker waits in place. ``target_key`` makes
every retry skip the targets already reached. Every try of a route is one ``Notification`` row (delivered
or failed) and one line in the audit trail of the excursion; a failing channel shows on the sync status
page until it delivers again.

No secret leaves this module: a channel is named by its name, never its URL; what Apprise logs is
captured and cleaned of every part of the URL before it is stored as the error (logs, pages and task
arguments never see it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from alarms.models import Notification, NotificationChannel, NotificationStatus

logger = logging.getLogger("alarms.delivery")
# Apprise's own log lines may name parts of a channel's URL (a host that is a bot token, a path that is a
# webhook key): they never reach our handlers; each send captures them, cleaned, as its error.
logging.getLogger("apprise").propagate = False


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Route:
    via: str  # "email" or "apprise"
    address: str = ""  # the email address
    channel: NotificationChannel | None = None

    @property
    def recipient(self) -> str:
        return self.channel.name if self.channel is not None else self.address


def routes_for_user(user) -> list[Route]:
    routes = [
        Route("apprise", channel=channel) for channel in user.notification_channels.filter(enabled=True)
    ]
    if user.email:
        routes.append(Route("email", address=user.email))
    return routes


def routes_for_channels(channels) -> list[Route]:
    return [Route("apprise", channel=channel) for channel in channels if channel.enabled]


class DeliveryError(Exception):
    """A route could not deliver; the message is safe to store and show (no secret)."""


def _send_email(address: str, message: Message) -> None:
    email = EmailMultiAlternatives(message.subject, message.text, settings.DEFAULT_FROM_EMAIL, [address])
    email.attach_alternative(message.html, "text/html")
    try:
        email.send()
    except Exception as error:  # SMTP refusals, connection errors: the class says enough
        raise DeliveryError(
            f"the mail server refused or could not be reached ({type(error).__name__})"
        ) from None


def secret_parts(url: str) -> list[str]:
    """Every piece of an Apprise URL that could be a secret (host, user, password, path, query values)."""
    parts = urlsplit(url)
    pieces = [url, parts.netloc, parts.username or "", parts.password or "", parts.hostname or ""]
    pieces += [unquote(p) for p in parts.path.split("/")]
    pieces += [unquote(value) for _, value in parse_qsl(parts.query)]
    return sorted({p for p in pieces if len(p) >= 3}, key=len, reverse=True)


def redact(text: str, url: str) -> str:
    for piece in secret_parts(url):
        text = text.replace(piece, "***")
    return text


def _send_apprise(channel: NotificationChannel, message: Message) -> None:
    import apprise

    url = channel.url
    if not url:
        raise DeliveryError("no Apprise URL stored")
    notifier = apprise.Apprise()
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        if not notifier.add(url):
            raise DeliveryError("Apprise does not understand the stored URL (check its schema)")
        delivered = notifier.notify(title=message.subject, body=message.text)
    if not delivered:
        reason = " ".join(captured.getvalue().split())
        reason = redact(reason, url)[:240] or "the service refused it"
        raise DeliveryError(f"Apprise could not deliver: {reason}")


def send_by(route: Route, message: Message) -> None:
    if route.via == "email":
        _send_email(route.address, message)
    else:
        _send_apprise(route.channel, message)


def _mark_channel(channel: NotificationChannel | None, error: str = "") -> None:
    if channel is None:
        return
    now = timezone.now()
    if error:
        channel.last_failure_at, channel.last_failure = now, error[:300]
        channel.consecutive_failures += 1
        fields = ["last_failure_at", "last_failure", "consecutive_failures"]
    else:
        channel.last_success_at, channel.consecutive_failures = now, 0
        fields = ["last_success_at", "consecutive_failures"]
    channel.save(update_fields=fields)


def retry_delays() -> list[float]:
    return list(settings.ALARM_DELIVERY_RETRY_SECONDS)


def unreached(prefix: str) -> list[str]:
    """The targets (``target_key`` under ``prefix``) that were tried and never reached: what a retry is
    for. A target with no route at all is not among them (nothing to try again)."""
    tried = Notification.objects.filter(target_key__startswith=f"{prefix}:")
    failed = set(tried.filter(status=NotificationStatus.FAILED).values_list("target_key", flat=True))
    delivered = set(tried.filter(status=NotificationStatus.DELIVERED).values_list("target_key", flat=True))
    return sorted(failed - delivered)


def deliver(
    target_key: str,
    routes: list[Route],
    message: Message,
    *,
    kind: str,
    excursion=None,
    health_alarm=None,
    level: int | None = None,
    user=None,
    still_wanted=lambda: True,
) -> Notification | None:
    """Reach the target by the first route that delivers, each route tried once; the delivered
    ``Notification``, or None (all failed, none to try, already reached, or no longer wanted:
    ``still_wanted()`` is asked before each route, so an acknowledgement stops what has not gone out
    yet). Trying a target again later is the caller's (``unreached``)."""
    from alarms.audit import record_notification

    if Notification.objects.filter(target_key=target_key, status=NotificationStatus.DELIVERED).exists():
        return None
    for route in routes:
        if not still_wanted():
            return None
        if route.channel is not None and not route.channel.enabled:
            continue
        error = ""
        try:
            send_by(route, message)
        except DeliveryError as failure:
            error = str(failure)
            logger.warning("%s: %s by %s failed: %s", target_key, kind, route.via, error)
        _mark_channel(route.channel, error)
        # ``attempts``: which try of this route for this target this row is (1, then 2 at the first retry...).
        earlier = Notification.objects.filter(
            target_key=target_key, via=route.via, channel=route.channel, recipient=route.recipient[:300]
        ).count()
        notification = Notification.objects.create(
            excursion=excursion,
            health_alarm=health_alarm,
            target_key=target_key,
            kind=kind,
            level=level,
            user=user,
            channel=route.channel,
            via=route.via,
            recipient=route.recipient[:300],
            status=NotificationStatus.FAILED if error else NotificationStatus.DELIVERED,
            attempts=earlier + 1,
            error=error[:300],
            sent_at=timezone.now(),
        )
        if excursion is not None or health_alarm is not None:
            record_notification(excursion or health_alarm, notification)
        if not error:
            return notification
    return None
