"""Emails: an excursion opened, a reminder (and escalation) when it stays unacknowledged, a vendor account
that needs attention. Each email is three templates (``templates/emails/<name>-subject.txt``,
``-body.html``, ``-body.txt``); links lead to our pages, behind the login, at ``settings.SITE_URL``.

Every email sent is recorded under a key (``SentNotification``), so a retried task never sends it twice.
Sending never raises into the caller (the ingest, a task): a failure is logged and the next run tries the
reminders again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from monitoring.choices import ExcursionState
from monitoring.models import Excursion, SentNotification
from vendors.models import VendorAccount

logger = logging.getLogger("monitoring.notifications")


def emails_of(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


def site_link(name: str, *args) -> str:
    return settings.SITE_URL + reverse(name, args=args)


def render_text(template_name: str, context: dict) -> str:
    """A plain-text template (an email's subject or text body), rendered without HTML escaping."""
    if not template_name.endswith(".txt"):
        raise ValueError(f"{template_name}: only .txt templates are rendered without escaping")
    return render_to_string(template_name, context, using="text")


def render_subject(template_name: str, context: dict) -> str:
    # One line: a header never holds a line break.
    return " ".join(render_text(template_name, context).split())


def build_email(template: str, context: dict, recipients: list[str]) -> EmailMultiAlternatives:
    context = {"site_url": settings.SITE_URL, **context}
    subject = render_subject(f"emails/{template}-subject.txt", context)
    text = render_text(f"emails/{template}-body.txt", context)
    html = render_to_string(f"emails/{template}-body.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, recipients)
    message.attach_alternative(html, "text/html")
    return message


def send_once(key: str, template: str, context: dict, recipients: list[str]) -> bool:
    """Send unless an email with this key was sent already. True if sent."""
    if not recipients or SentNotification.objects.filter(key=key).exists():
        return False
    return send_message_once(key, build_email(template, context, recipients))


def send_message_once(key: str, message: EmailMultiAlternatives) -> bool:
    """Send a built message unless one with this key was sent already. True if sent."""
    recipients = list(message.to)
    if not recipients or SentNotification.objects.filter(key=key).exists():
        return False
    try:
        message.send()
    except Exception:
        logger.exception("could not send %s to %s", key, ", ".join(recipients))
        return False
    try:
        with transaction.atomic():
            SentNotification.objects.create(
                key=key, recipients="\n".join(recipients), subject=message.subject[:300]
            )
    except IntegrityError:
        pass  # another worker sent it at the same moment: one duplicate at worst, never a missed one
    return True


def _excursion_context(excursion: Excursion) -> dict:
    return {
        "excursion": excursion,
        "channel": excursion.channel,
        "device": excursion.channel.device,
        "rule": excursion.rule,
        "link": site_link("excursion_detail", excursion.pk),
    }


def handled_by_alarms(excursion: Excursion) -> bool:
    """An excursion with an escalation policy is told by the policy's levels, and one inside a suppression
    window by nobody (alarms/): not by the rule's recipients, reminder and escalation emails."""
    from alarms.models import Escalation
    from alarms.suppression import is_suppressed

    return Escalation.objects.filter(excursion_id=excursion.pk).exists() or is_suppressed(excursion)


def notify_excursion_opened(excursion: Excursion) -> bool:
    rule = excursion.rule
    if rule is None or handled_by_alarms(excursion):
        return False
    return send_once(
        f"opened:{excursion.pk}",
        "excursion-opened",
        _excursion_context(excursion),
        emails_of(rule.recipients),
    )


def send_reminders(now: datetime | None = None) -> int:
    """Remind the rule's recipients of excursions unacknowledged for ``reminder_minutes``; escalate to the
    second list when the reminder goes unheeded for as long again. Returns the number of emails sent."""
    now = now or timezone.now()
    sent = 0
    waiting = (
        Excursion.objects.filter(state=ExcursionState.OPEN, rule__reminder_minutes__isnull=False)
        .filter(escalated_at__isnull=True, escalation__isnull=True)  # none with a policy (alarms/)
        .exclude(suppression__isnull=False, suppression__lifted_at__isnull=True)  # nor suppressed
        .select_related("rule", "channel__device")
    )
    for excursion in waiting:
        after = timedelta(minutes=excursion.rule.reminder_minutes)
        context = _excursion_context(excursion)
        if excursion.reminded_at is None:
            if now - excursion.created_at < after:
                continue
            if send_once(
                f"reminder:{excursion.pk}",
                "excursion-reminder",
                context,
                emails_of(excursion.rule.recipients),
            ):
                sent += 1
            excursion.reminded_at = now
            excursion.save(update_fields=["reminded_at"])
        elif now - excursion.reminded_at >= after:
            recipients = emails_of(excursion.rule.escalation_recipients)
            if send_once(f"escalation:{excursion.pk}", "excursion-escalation", context, recipients):
                sent += 1
            excursion.escalated_at = now
            excursion.save(update_fields=["escalated_at"])
    return sent


def administrators_emails() -> list[str]:
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    admins = users.filter(groups__name="Admin") | users.filter(is_superuser=True)
    return sorted(set(admins.values_list("email", flat=True)))


def notify_accounts_needing_attention() -> int:
    """One email per account and per refusal (keyed by the time of the error) to the administrators."""
    sent = 0
    recipients = administrators_emails()
    for account in VendorAccount.objects.filter(needs_attention=True, enabled=True):
        stamp = account.last_error_at.isoformat() if account.last_error_at else "unknown"
        context = {"account": account, "link": site_link("sync_status")}
        if send_once(f"account:{account.pk}:{stamp}", "account-attention", context, recipients):
            sent += 1
    return sent


def notify_account_failed(account: VendorAccount) -> bool:
    """Tell the administrators that an account's sync broke on something unexpected (a bug, data the
    database refused): retrying alone may not mend it. Once per run of failures: the key is the last
    success, so the next email comes only after the account has synced again and broken again."""
    stamp = account.last_success_at.isoformat() if account.last_success_at else "never"
    context = {"account": account, "link": site_link("sync_status")}
    return send_once(
        f"account-failed:{account.pk}:{stamp}", "account-failed", context, administrators_emails()
    )
