"""Calibration certificates: one reminder when due within 30 days, through the device's escalation policy;
the PDF behind the login; overdue channels marked in the report; offsets only when opted in."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pypdf
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from alarms.calibration import (
    certificate_for,
    certificates_for_device,
    offset_for,
    overdue_line,
    remind_calibrations,
)
from alarms.models import CalibrationCertificate, Notification
from monitoring.models import AuditRecord, Channel, Device
from monitoring.reports import build_report, render_pdf
from tests.conftest import FIXED_NOW
from tests.factories import make_user
from tests.test_alarms_escalation import fridge_channel, person, policy_with_levels, rcpts
from tests.test_notifications import smtp_inbox, warm_spell  # noqa: F401  (the fixture)

PDF = b"%PDF-1.4\n% a certificate\n%%EOF\n"


def certificate(channel, due_on: date, number="K-2026-0042", calibrated_on=None, **fields):
    return CalibrationCertificate.objects.create(
        channel=channel,
        calibrated_on=calibrated_on or due_on - timedelta(days=365),
        due_on=due_on,
        laboratory="Kalibrierlabor Nord",
        certificate_number=number,
        file=SimpleUploadedFile(f"{number}.pdf", PDF, content_type="application/pdf"),
        **fields,
    )


def test_a_calibration_due_in_29_days_raises_one_reminder(smtp_inbox, settings, tmp_path, db):  # noqa: F811
    settings.MEDIA_ROOT = tmp_path
    channel = fridge_channel()
    policy_with_levels(channel.device, (0, [person("qa")], [], None), (15, [person("boss")], [], None))
    today = timezone.localdate()
    soon = certificate(channel, today + timedelta(days=29))
    later = certificate(
        type(channel).objects.create(device=channel.device, name="Probe 2", quantity="temperature", unit="C"),
        today + timedelta(days=31),
        number="K-2026-0043",
    )

    assert remind_calibrations() == 1
    assert remind_calibrations() == 0, "one reminder, not one a day"
    assert rcpts(smtp_inbox) == ["qa@example.com"], "the first level of the device's policy"
    (message,) = smtp_inbox.messages
    assert message["Subject"] == (
        "Calibration due in 29 days: Vaccine fridge / Measure (certificate K-2026-0042)"
    )
    assert "Kalibrierlabor Nord" in message.get_body(("plain",)).get_content()
    soon.refresh_from_db()
    later.refresh_from_db()
    assert soon.reminded_at is not None and later.reminded_at is None
    assert Notification.objects.get().kind == "calibration"
    (line,) = AuditRecord.objects.filter(model="alarms.calibrationcertificate", action="notify")
    assert "to qa@example.com" in line.changes["notification"][1]


def test_the_certificate_pdf_is_behind_the_login_and_an_overdue_channel_is_marked(
    client, settings, tmp_path, db
):
    settings.MEDIA_ROOT = tmp_path
    channel = fridge_channel()
    # Overdue on the day of the report below (its last day, FIXED_NOW's), so overdue today as well.
    overdue = certificate(channel, FIXED_NOW.date() - timedelta(days=3), offset=-0.3)
    url = f"/calibration/{overdue.pk}/certificate.pdf"
    assert client.get(url).status_code == 302  # to the login
    client.force_login(make_user("qa"))
    answer = client.get(url)
    assert answer.status_code == 200 and b"".join(answer.streaming_content) == PDF

    device_page = client.get(f"/devices/{channel.device.pk}/").content.decode()
    assert "overdue</span> since" in device_page
    assert f'href="{url}">K-2026-0042</a> (Kalibrierlabor Nord)' in device_page

    line = overdue_line(channel)
    assert line == f"Calibration overdue since {overdue.due_on:%Y-%m-%d} (certificate K-2026-0042)."
    warm_spell(channel)
    report = build_report(FIXED_NOW - timedelta(hours=1), FIXED_NOW + timedelta(hours=3))
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(render_pdf(report))).pages)
    assert line in " ".join(text.split())

    assert offset_for(channel, timezone.localdate()) == 0.0, "offsets are shown only if the customer opts in"
    settings.CALIBRATION_OFFSETS_SHOWN = True
    assert offset_for(channel, timezone.localdate()) == -0.3
    assert offset_for(channel, overdue.calibrated_on - timedelta(days=1)) == 0.0  # before that calibration


def test_the_admin_refuses_a_file_that_is_not_a_pdf(admin_client, settings, tmp_path, db):
    settings.MEDIA_ROOT = tmp_path
    channel = fridge_channel()
    answer = admin_client.post(
        "/admin/alarms/calibrationcertificate/add/",
        {
            "channel": channel.pk,
            "calibrated_on": "2026-01-10",
            "due_on": "2027-01-10",
            "laboratory": "Lab",
            "certificate_number": "X-1",
            "offset": "0",
            "file": SimpleUploadedFile("x.pdf", b"MZ not a pdf", content_type="application/pdf"),
        },
    )
    assert "The certificate must be a PDF file." in answer.content.decode()
    assert not CalibrationCertificate.objects.exists()


def test_the_device_page_finds_each_channels_certificate_as_one_channel_does(db):
    """A channel's own newest certificate, else the device's newest, else none: the device page's single
    query finds the same as ``certificate_for`` channel by channel."""
    probe = fridge_channel()
    device = probe.device
    humidity = Channel.objects.create(device=device, name="humd", quantity="humidity", unit="%RH")
    bare = Device.objects.create(account=device.account, vendor_id="bare-1", name="Bare logger")
    alone = Channel.objects.create(device=bare, name="temp", quantity="temperature", unit="C")
    today = FIXED_NOW.date()
    certificate(
        probe, today + timedelta(days=90), number="OWN-OLD", calibrated_on=today - timedelta(days=400)
    )
    certificate(
        probe, today + timedelta(days=200), number="OWN-NEW", calibrated_on=today - timedelta(days=30)
    )
    for number, calibrated in (("DEV-NEW", 10), ("DEV-OLD", 300)):
        certificate(
            None,
            today + timedelta(days=100),
            number=number,
            calibrated_on=today - timedelta(days=calibrated),
            device=device,
        )
    found = certificates_for_device(device, [probe, humidity])
    assert {pk: c.certificate_number for pk, c in found.items()} == {
        probe.pk: "OWN-NEW",  # its own, though the device's is newer
        humidity.pk: "DEV-NEW",
    }
    assert all(certificate_for(c) == found.get(c.pk) for c in (probe, humidity))
    assert certificates_for_device(bare, [alone]) == {} and certificate_for(alone) is None
