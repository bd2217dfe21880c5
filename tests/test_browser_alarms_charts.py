"""Issue 19 on the pages, in Chromium: a suppression window shaded and labelled on the device chart and the
excursion's chart, the corrected values said so, and the overdue calibration on the overview.
Screenshots go to screenshots/ (alarms-*.png)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alarms.models import SuppressionWindow
from monitoring.excursions import evaluate_channels
from monitoring.models import Channel, Reading
from tests.factories import PASSWORD, make_user
from tests.test_alarms_calibration import certificate
from tests.test_alarms_escalation import fridge_channel
from tests.test_browser_dashboard import TABLET, browser, pytestmark, shoot, wait_for_chart  # noqa: F401


def day_of_readings(channel: Channel, now: datetime) -> None:
    """A day at 5 °C every 10 minutes, warm (12 °C) for an hour two hours ago."""
    start = now - timedelta(hours=24)
    warm_from, warm_to = now - timedelta(hours=3), now - timedelta(hours=2)
    rows = []
    for i in range(24 * 6):
        at = start + timedelta(minutes=10 * i)
        rows.append(Reading(channel=channel, timestamp=at, value=12.0 if warm_from <= at < warm_to else 5.0))
    Reading.objects.bulk_create(rows)
    Channel.objects.filter(pk=channel.pk).update(last_reading_at=rows[-1].timestamp, last_value=5.0)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_windows_corrections_and_overdue_calibrations_show_on_the_pages(
    live_server,
    browser,  # noqa: F811
    settings,
    tmp_path,
):
    settings.MEDIA_ROOT = tmp_path
    settings.CALIBRATION_OFFSETS_SHOWN = True
    settings.OVERVIEW_CACHE_SECONDS = 0
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    channel = fridge_channel()
    window_start = now - timedelta(hours=3, minutes=20)
    SuppressionWindow.objects.create(
        kind="defrost",
        reason="Weekly defrost",
        device=channel.device,
        starts_at=window_start,
        ends_at=window_start + timedelta(hours=2),
    )
    day_of_readings(channel, now)
    (excursion,) = evaluate_channels([channel.pk])
    today = now.date()
    certificate(
        channel,
        today - timedelta(days=2),
        number="ABC-123",
        calibrated_on=today - timedelta(days=370),
        offset=0.3,
    )
    make_user("qa")

    context = browser.new_context(viewport=TABLET, timezone_id="UTC")
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    url = live_server.url
    page.goto(f"{url}/login/")
    page.fill("#id_username", "qa")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")

    tile = page.locator(".tile", has_text="Vaccine fridge")
    assert tile.locator(".status.calibration").inner_text() == "Calibration overdue"
    assert "corrected" in tile.inner_text()
    assert page.locator(".strip-item.calibration").inner_text().split() == ["1", "Calibration", "overdue"]
    shoot(page, "alarms-overview")

    page.goto(f"{url}/devices/{channel.device.pk}/")
    wait_for_chart(page, "device-chart")
    # Plotly draws each shape's label as SVG text: the window's is on the chart.
    assert page.locator("#device-chart text", has_text="Defrost — Weekly defrost").count() == 1
    assert page.locator("#device-chart text", has_text="Excursion").count() == 1
    assert "corrected by +0.30 °C, certificate ABC-123" in page.locator(".message.corrected").inner_text()
    shoot(page, "alarms-device")

    page.goto(f"{url}/excursions/{excursion.pk}/")
    wait_for_chart(page, "excursion-chart")
    assert page.locator("#excursion-chart text", has_text="Defrost — Weekly defrost").count() == 1
    shoot(page, "alarms-excursion")
    assert problems == []
