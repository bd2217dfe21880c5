"""A year's chart in a real browser: the figure is built as plain dicts on the server (no plotly graph
objects), so Plotly.js itself must draw it, with its peak, and without an error."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import AlarmRule, Excursion
from tests.factories import PASSWORD, make_account, make_user
from tests.test_browser_dashboard import TABLET, browser, pytestmark, shoot, wait_for_chart  # noqa: F401
from tests.test_dashboard import fill_readings, make_device


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_year_chart_draws_its_single_reading_peak_in_the_browser(live_server, browser):  # noqa: F811
    device = make_device(make_account(), "Vaccine fridge", battery=87, last_seen=timezone.now())
    AlarmRule.objects.create(name="2-8 °C", device=device, low_limit=2, high_limit=8)
    temp = device.channels.get(name="temp")
    start = timezone.now() - timedelta(days=200)
    # A reading every 10 minutes for 200 days; one of them 14 °C.
    fill_readings(temp, start, 200 * 1440, value=lambda i: 14.0 if i == 150_000 else 5.0, step=10)
    Excursion.objects.create(
        channel=temp,
        started_at=start + timedelta(minutes=150_000),
        ended_at=start + timedelta(minutes=150_010),
    )
    make_user("qa")
    context = browser.new_context(viewport=TABLET, timezone_id="Europe/Helsinki")
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(f"{live_server.url}/devices/{device.pk}/?range=1y")
    page.fill("#id_username", "qa")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    wait_for_chart(page, "device-chart")
    # Plotly's own idea of the drawn data: the maximum trace reaches the single 14 °C reading.
    drawn = page.evaluate(
        "Math.max(...document.getElementById('device-chart').data"
        ".filter(t => t.name.endsWith('max per 9 h'))[0].y.filter(v => v !== null))"
    )
    assert drawn == 14.0
    assert page.locator("#device-chart .scatterlayer .trace").count() >= 4  # max, min, band, mean
    shoot(page, "device-year")
    assert problems == []
