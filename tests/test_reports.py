"""The excursion report: emailed on schedule (real SMTP), downloaded, and written by the command."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from pypdf import PdfReader

from monitoring.excursions import evaluate_new_readings
from monitoring.ingest import NewReadings, update_rollups
from monitoring.models import (
    AlarmRule,
    Channel,
    DeploymentGroup,
    Device,
    Excursion,
    Position,
    Reading,
    ReportSubscription,
)
from monitoring.reports import build_report, render_pdf, send_subscribed_reports
from tests.conftest import FIXED_NOW
from tests.factories import make_account, make_user
from tests.test_notifications import smtp_inbox  # noqa: F401 (a fixture)

DAY = FIXED_NOW.replace(hour=0) - timedelta(days=1)  # the whole UTC day before FIXED_NOW


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def excursions(db):
    """A fridge and a reefer truck in the "Pharmacy" group, each with one warm spell on ``DAY``."""
    group = DeploymentGroup.objects.create(name="Pharmacy")
    account = make_account()
    found = []
    for vendor_id, name, kind in [("6128", "Vaccine fridge", "fixed"), ("T1", "Reefer truck", "vehicle")]:
        device = Device.objects.create(
            account=account, vendor_id=vendor_id, name=name, kind=kind, group=group
        )
        channel = Channel.objects.create(device=device, name="Measure", quantity="temperature", unit="C")
        AlarmRule.objects.create(name="2–8 °C", device=device, low_limit=2, high_limit=8)
        start = DAY + timedelta(hours=6)
        values = [5.0] * 6 + [9.0, 11.5, 10.0, 9.0] + [5.0] * 6
        Reading.objects.bulk_create(
            Reading(channel=channel, timestamp=start + timedelta(minutes=10 * i), value=v)
            for i, v in enumerate(values)
        )
        if kind == "vehicle":
            Position.objects.create(device=device, timestamp=start, latitude=52.3676, longitude=4.9041)
            Position.objects.create(
                device=device, timestamp=start + timedelta(minutes=100), latitude=51.2194, longitude=4.4025
            )
        new = NewReadings()
        new.add(channel.pk, len(values), start, start + timedelta(minutes=10 * (len(values) - 1)))
        update_rollups(new)  # as the ingest does
        found += evaluate_new_readings(new)
    assert len(found) == 2
    return found


def test_the_report_pdf_holds_the_summary_and_each_excursion(excursions):
    report = build_report(DAY, DAY + timedelta(days=1))
    (summary,) = report.groups
    assert (summary.name, summary.devices, summary.excursions) == ("Pharmacy", 2, 2)
    assert summary.minutes_out_of_range == 80.0 and summary.maximum == 11.5 and summary.minimum == 5.0
    assert 5.0 < summary.mkt < 11.5
    text = pdf_text(render_pdf(report))
    assert "Excursion report" in text and "Pharmacy" in text
    assert "Vaccine fridge / Measure" in text and "Reefer truck / Measure" in text
    assert "Peak 11.5 °C" in text
    assert "Started at 52.36760, 4.90410; ended at 51.21940, 4.40250." in text


def test_a_subscription_gets_the_daily_report_by_email_with_the_pdf_and_the_csv(smtp_inbox, excursions):  # noqa: F811
    ReportSubscription.objects.create(name="QA daily", recipients="qa@example.com", frequency="daily")
    assert send_subscribed_reports("daily", now=FIXED_NOW) == 1
    assert send_subscribed_reports("daily", now=FIXED_NOW) == 0  # a retried task sends nothing twice
    (message,) = smtp_inbox.messages
    assert "2 excursions" in message["Subject"]
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "Pharmacy" in html and 'src="cid:chart-' in html and "Reefer truck / Measure" in text
    attachments = {part.get_filename(): part for part in message.iter_attachments()}
    pdf = next(p for name, p in attachments.items() if name and name.endswith(".pdf"))
    assert "Vaccine fridge / Measure" in pdf_text(pdf.get_content())
    charts = [p for name, p in attachments.items() if name and name.startswith("chart-")]
    assert len(charts) == 2 and charts[0].get_content_type() == "image/png"
    table = next(p for name, p in attachments.items() if name and name.endswith(".csv"))
    rows = list(csv.DictReader(io.StringIO(table.get_content())))
    assert {r["device_name"] for r in rows} == {"Vaccine fridge", "Reefer truck"}
    assert {r["value"] for r in rows} >= {"9.0", "11.5", "10.0"}


def test_the_command_writes_the_report_of_a_group(excursions, tmp_path):
    output = tmp_path / "report.pdf"
    call_command(
        "excursion_report",
        "--start",
        DAY.isoformat(),
        "--end",
        (DAY + timedelta(days=1)).isoformat(),
        "--group",
        "Pharmacy",
        "--output",
        str(output),
        stdout=io.StringIO(),
    )
    text = pdf_text(output.read_bytes())
    assert "Excursion report – Pharmacy" in text and "Excursions (2)" in text


def test_the_report_can_be_downloaded_for_any_range(client, excursions):
    client.force_login(make_user())
    start, end = DAY.date().isoformat(), (DAY + timedelta(days=1)).date().isoformat()
    response = client.get("/excursions/report/", {"start": start, "end": end})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "Excursions (2)" in pdf_text(response.content)
    earlier = client.get("/excursions/report/", {"start": "2026-01-01", "end": "2026-01-02"})
    assert "No excursion in this period." in pdf_text(earlier.content)
    assert client.get("/excursions/report/", {"start": end, "end": start}).status_code == 400
    assert Excursion.objects.count() == 2
