"""Emails, delivered over real SMTP to an aiosmtpd server that the test starts."""

from __future__ import annotations

import email
import socket
from datetime import timedelta
from email import policy

import pytest
from aiosmtpd.controller import Controller

from monitoring.excursions import evaluate_channels
from monitoring.models import AlarmRule, Channel, Device, Excursion, Reading
from monitoring.notifications import notify_accounts_needing_attention, send_reminders
from tests.conftest import FIXED_NOW
from tests.factories import make_account, make_user


class Inbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_inbox(settings):
    """A real SMTP server on loopback; Django sends to it with the SMTP backend."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.SITE_URL = "https://coldchain.example.com"
    yield inbox
    controller.stop()


def bodies(message) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


@pytest.fixture
def channel(db):
    device = Device.objects.create(account=make_account(), vendor_id="6128", name="Vaccine fridge")
    return Channel.objects.create(device=device, name="Measure", quantity="temperature", unit="C")


def warm_spell(channel, minutes=60):
    rows = [
        Reading(
            channel=channel, timestamp=FIXED_NOW + timedelta(minutes=10 * i), value=12.0 if 0 < i else 5.0
        )
        for i in range(minutes // 10)
    ]
    Reading.objects.bulk_create(rows)
    return evaluate_channels([channel.pk])


def test_it_emails_the_rules_recipients_when_an_excursion_opens(smtp_inbox, channel):
    AlarmRule.objects.create(
        name="2–8 °C",
        channel=channel,
        low_limit=2,
        high_limit=8,
        recipients="qa@example.com\nboss@example.com",
    )
    (excursion,) = warm_spell(channel)
    (message,) = smtp_inbox.messages
    assert smtp_inbox.envelopes[0].rcpt_tos == ["qa@example.com", "boss@example.com"]
    assert "Vaccine fridge (Measure)" in message["Subject"] and "ALARM" in message["Subject"]
    text, html = bodies(message)
    link = f"https://coldchain.example.com/excursions/{excursion.pk}/"
    assert link in text and f'href="{link}"' in html
    assert "Peak: 12.0" in text


def test_a_link_in_an_email_leads_to_the_login_first(client, channel):
    AlarmRule.objects.create(name="r", channel=channel, low_limit=2, high_limit=8)
    (excursion,) = warm_spell(channel)
    response = client.get(f"/excursions/{excursion.pk}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_it_reminds_then_escalates_an_unacknowledged_excursion_once(smtp_inbox, channel):
    AlarmRule.objects.create(
        name="r",
        channel=channel,
        low_limit=2,
        high_limit=8,
        recipients="qa@example.com",
        reminder_minutes=30,
        escalation_recipients="director@example.com",
    )
    (excursion,) = warm_spell(channel)
    created = excursion.created_at
    assert send_reminders(now=created + timedelta(minutes=10)) == 0
    assert send_reminders(now=created + timedelta(minutes=31)) == 1
    assert send_reminders(now=created + timedelta(minutes=40)) == 0
    assert send_reminders(now=created + timedelta(minutes=62)) == 1
    assert send_reminders(now=created + timedelta(minutes=120)) == 0
    subjects = [m["Subject"] for m in smtp_inbox.messages]
    assert [s.split(":")[0] for s in subjects] == ["[ALARM] Out of range", "Reminder", "Escalation"]
    assert smtp_inbox.envelopes[2].rcpt_tos == ["director@example.com"]
    excursion.refresh_from_db()
    assert excursion.reminded_at and excursion.escalated_at


def test_an_acknowledged_excursion_gets_no_reminder(smtp_inbox, channel):
    AlarmRule.objects.create(
        name="r", channel=channel, low_limit=2, high_limit=8, recipients="qa@example.com", reminder_minutes=30
    )
    (excursion,) = warm_spell(channel)
    Excursion.objects.filter(pk=excursion.pk).update(state="acknowledged")
    assert send_reminders(now=excursion.created_at + timedelta(hours=2)) == 0


def test_it_tells_the_administrators_once_when_a_vendor_account_needs_attention(smtp_inbox, db):
    make_user("boss", role="Admin")
    make_user("qa")
    account = make_account(name="Pharmacy loggers")
    account.needs_attention, account.last_error_at = True, FIXED_NOW
    account.last_error = "the vendor refused the credentials"
    account.save()
    assert notify_accounts_needing_attention() == 1
    assert notify_accounts_needing_attention() == 0
    (message,) = smtp_inbox.messages
    assert smtp_inbox.envelopes[0].rcpt_tos == ["boss@example.com"]
    assert "Pharmacy loggers" in message["Subject"]
    text, _ = bodies(message)
    assert "https://coldchain.example.com/sync/" in text


def test_subjects_and_text_bodies_are_plain_text_and_the_html_is_escaped(smtp_inbox, channel):
    device = channel.device
    device.name, device.site = 'Fridge "A" <1>', "Lab & stores"
    device.save(update_fields=["name", "site"])
    AlarmRule.objects.create(
        name="2–8 °C <vaccines>", channel=channel, low_limit=2, high_limit=8, recipients="qa@example.com"
    )
    warm_spell(channel)
    (message,) = smtp_inbox.messages
    assert 'Fridge "A" <1> (Measure)' in message["Subject"]
    text, html = bodies(message)
    assert 'Device: Fridge "A" <1> (6128), Lab & stores' in text
    assert 'rule "2–8 °C <vaccines>"' in text
    assert "&quot;" not in text + message["Subject"] and "&lt;" not in text and "&amp;" not in text
    assert "Fridge &quot;A&quot; &lt;1&gt;" in html and "<1>" not in html
