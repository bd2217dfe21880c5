"""The excursion report's PDF read back as text: signatures, page numbers and the range on every page,
times in the requester's zone, no-data excursions in one table, freezers summarised apart from fridges."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from pypdf import PdfReader

from monitoring.excursion_actions import excursion_acknowledge, excursion_assign, excursion_close
from monitoring.ingest import NewReadings, update_rollups
from monitoring.models import AlarmRule, Channel, DeploymentGroup, Device, Excursion, Reading
from monitoring.reports import build_report, render_pdf
from tests.factories import PASSWORD, make_account, make_user
from tests.test_browser_dashboard import SCREENSHOTS
from tests.test_reports import DAY, excursions  # noqa: F401 (a fixture)


def a_freezer_at_minus_18(group: DeploymentGroup) -> Channel:
    device = Device.objects.create(
        account=make_account(name="Freezers"), vendor_id="F1", name="Freezer 1", group=group
    )
    channel = Channel.objects.create(device=device, name="Measure", quantity="temperature", unit="C")
    AlarmRule.objects.create(name="Freezer", device=device, low_limit=-25, high_limit=-15)
    start = DAY + timedelta(hours=1)
    Reading.objects.bulk_create(
        Reading(channel=channel, timestamp=start + timedelta(minutes=10 * i), value=-18.0) for i in range(60)
    )
    new = NewReadings()
    new.add(channel.pk, 60, start, start + timedelta(minutes=590))
    update_rollups(new)
    return channel


def test_the_pdf_says_who_signed_numbers_its_pages_and_keeps_freezers_apart(excursions):  # noqa: F811
    fridge_excursion, truck_excursion = excursions
    freezer = a_freezer_at_minus_18(DeploymentGroup.objects.get(name="Pharmacy"))
    silent = Excursion.objects.create(
        channel=freezer,
        kind="no_data",
        started_at=DAY + timedelta(hours=11),
        ended_at=DAY + timedelta(hours=14),
    )
    ana = make_user()
    ana.first_name, ana.last_name = "Ana", "Silva"
    ana.save()
    bob = make_user("bob")
    bob.first_name, bob.last_name = "Bob", "Builder"
    bob.save()
    excursion_acknowledge(fridge_excursion, ana, "Door left open", PASSWORD, username="qa")
    excursion_assign(fridge_excursion, ana, ana)
    excursion_close(
        fridge_excursion,
        bob,
        "no_product_impact",
        "Door alarm cable cut",
        PASSWORD,
        product_impact="not_affected",
        username="bob",
    )
    excursion_acknowledge(silent, ana, "Logger battery replaced", PASSWORD, username="qa")

    report = build_report(DAY, DAY + timedelta(days=1), zone=ZoneInfo("Europe/Helsinki"))
    summaries = {(s.name, s.profile, s.quantity): s for s in report.groups}
    assert set(summaries) == {
        ("Pharmacy", "2 to 8", "temperature"),
        ("Pharmacy", "-25 to -15", "temperature"),
    }
    assert summaries["Pharmacy", "-25 to -15", "temperature"].mean == -18.0
    assert summaries["Pharmacy", "2 to 8", "temperature"].minimum == 5.0  # no -18 in the fridges' figures

    content = render_pdf(report)
    SCREENSHOTS.mkdir(exist_ok=True)
    (SCREENSHOTS / "excursion-report.pdf").write_bytes(content)  # an artefact to look at
    pdf = PdfReader(io.BytesIO(content))
    pages = [page.extract_text() for page in pdf.pages]
    text = "\n".join(pages)
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        assert "2026-11-19 02:00 to 2026-11-20 02:00 (Europe/Helsinki)" in page
    assert "Times in Europe/Helsinki" in text
    assert (
        fridge_excursion.started_at.astimezone(ZoneInfo("Europe/Helsinki")).strftime("%Y-%m-%d %H:%M EET")
        in text
    )
    flat = re.sub(r"\s+", " ", text)
    assert "Signed: Ana Silva — Acknowledged — 2026-" in flat
    assert "Acknowledgement comment: Door left open" in flat
    assert "Signed: Bob Builder — Closed: no product impact — 2026-" in flat
    assert "Disposition: No product impact. Root cause: Door alarm cable cut. Product impact: Not" in flat
    assert "Not acknowledged yet: no signature." in flat  # the truck's excursion
    # The no-data excursion is a row of one table, not a chart of its own.
    assert "No-data excursions (1)" in flat and "Logger battery replaced" in flat
    assert sum(len(page.images) for page in pdf.pages) == 2
    assert truck_excursion.pk != silent.pk
