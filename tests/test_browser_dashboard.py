"""The QA dashboard in a real browser: Debian's Chromium driven by Playwright, logged in as a QA user,
against a live server filled by a real sync from the five simulators. Screenshots go to screenshots/."""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitoring.excursions import evaluate_channel
from monitoring.models import AlarmRule, Channel, Device, VendorAlert
from tests.factories import PASSWORD, make_account, make_user
from vendors.simulators import SLUGS, World, simulator_class
from vendors.sync import sync_account

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
TABLET = {"width": 1180, "height": 820}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists(),
        reason=f"no Chromium at {CHROMIUM} (set CHROMIUM_PATH)",
    ),
]


@pytest.fixture
def synced(serve, settings):
    """One day of every vendor, synced over HTTP from simulators whose clock is the real one (so the
    pages show fresh values), and a 2–8 °C rule on a few fridges with the excursions it finds."""
    settings.MAP_TILE_URL = "http://127.0.0.1:9/{z}/{x}/{y}.png"  # no tile server: the track still draws
    now = datetime.now(UTC).replace(microsecond=0)
    world = World(seed=7)
    for slug in SLUGS:
        account = make_account(serve(simulator_class(slug)(world=world)), slug)
        result = sync_account(account, since=now - timedelta(days=1), until=now)
        assert result.ok, result.errors
    for channel in Channel.objects.filter(quantity="temperature", device__kind="fixed").select_related(
        "device"
    )[:4]:
        rule = AlarmRule.objects.create(
            name=f"2–8 °C {channel.device}", device=channel.device, low_limit=2, high_limit=8
        )
        evaluate_channel(channel, rule, now - timedelta(days=1), now)
    make_user("qa")
    return now


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still plain
    # synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_for_chart(page, element_id: str) -> None:
    page.wait_for_selector(f"#{element_id}[data-ready='yes']", timeout=20_000)


# Serialized rollback: the roles (a data migration) are back even after another live-server test's flush.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_qa_user_works_through_every_page_of_the_dashboard(live_server, synced, browser, settings):
    context = browser.new_context(viewport=TABLET, timezone_id="Europe/Helsinki")
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error"
            and "127.0.0.1:9" not in message.text
            and "Failed to load resource" not in message.text
            else None
        ),
    )
    url = live_server.url

    # Log in through the form.
    page.goto(f"{url}/")
    assert "/login/" in page.url
    page.fill("#id_username", "qa")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")

    # Overview: a tile per device, status in words, filters swap the list through htmx.
    tiles = page.locator(".tile")
    devices = Device.objects.exclude(installation_status="retired").count()
    assert tiles.count() == devices > 5
    assert page.locator(".tile .status").first.inner_text() in {
        "Out of range",
        "Sensor error",
        "No data",
        "Near a limit",
        "Open excursion",
        "Low battery",
        "In range",
    }
    assert page.get_by_text(re.compile(r"\d+ min ago|just now")).count() > 0
    shoot(page, "overview")
    page.select_option("#id_vendor", "thingsee")
    page.wait_for_url(re.compile(r"vendor=thingsee"))
    page.wait_for_function(f"document.querySelectorAll('.tile').length < {devices}")
    assert (
        tiles.count()
        == Device.objects.filter(account__vendor="thingsee").exclude(installation_status="retired").count()
    )
    shoot(page, "overview-filtered")

    # Device detail: the chart draws, a preset swaps it through htmx, the CSV link keeps the range.
    device = Device.objects.filter(channels__quantity="humidity", alarm_rules__isnull=False).first() or (
        Device.objects.filter(channels__quantity="humidity").first()
    )
    page.goto(f"{url}/devices/{device.pk}/")
    wait_for_chart(page, "device-chart")
    traces = page.evaluate("document.getElementById('device-chart').data.map(t => t.yaxis || 'y')")
    assert "y2" in traces and "y" in traces
    shoot(page, "device")
    page.click(".presets a:has-text('7 d')")
    page.wait_for_selector(".presets a.current:has-text('7 d')")
    wait_for_chart(page, "device-chart")
    assert "range=7d" in page.url
    assert "range=7d" in page.get_attribute("a:has-text('Download CSV')", "href")
    page.click(".presets a:has-text('1 y')")
    page.wait_for_selector(".presets a.current:has-text('1 y')")
    wait_for_chart(page, "device-chart")
    assert page.get_by_text("hour bucket").count() == 1
    shoot(page, "device-year")
    # Zooming into the last six hours fetches them again, every reading.
    page.evaluate(
        """() => {
            const chart = document.getElementById('device-chart');
            const end = new Date(chart.layout.xaxis.range[1].replace(' ', 'T'));
            const start = new Date(end.getTime() - 6 * 3600 * 1000);
            const text = (d) => d.toISOString().slice(0, 19).replace('T', ' ');
            Plotly.relayout(chart, {'xaxis.range[0]': text(start), 'xaxis.range[1]': text(end)});
        }"""
    )
    page.wait_for_selector("text=Zoomed in")
    wait_for_chart(page, "device-chart")
    assert "range=zoom" in page.url
    assert page.get_by_text("Every reading.").count() == 1
    shoot(page, "device-zoomed")

    # Map: no tile server can be reached, so the tracks draw on the offline base map
    # (tests/test_browser_map.py checks it further).
    page.goto(f"{url}/map/")
    try:
        wait_for_chart(page, "vehicle-map")
    except Exception:
        shoot(page, "map-failed")
        raise AssertionError(f"the map did not draw: {problems}") from None
    assert page.evaluate("document.getElementById('vehicle-map').data.length") >= 2
    assert page.get_attribute("#vehicle-map", "data-offline") == "no-tile-server"
    assert page.locator("#vehicle-map .scatterlayer .trace").count() >= 2
    shoot(page, "map")

    # Alerts: acknowledge a vendor event in place, with the required comment.
    page.goto(f"{url}/alerts/?tab=vendor")
    group = page.locator("li.event-group:has(input[type=checkbox])").first
    if VendorAlert.objects.filter(acknowledged_at__isnull=True).exists():
        group.locator("summary").click()
        row = group.locator("li.event:has(summary)").first
        row.locator("summary").click()
        row.locator("textarea").fill("Called the driver: door closed again")
        row.locator("button:has-text('Acknowledge')").click()
        page.wait_for_selector("text=Acknowledged by qa")
        assert (
            VendorAlert.objects.filter(acknowledgement_comment__startswith="Called the driver").count() == 1
        )
    shoot(page, "alerts")

    # Groups and devices: visible, but no controls for QA.
    page.goto(f"{url}/groups/")
    assert page.locator("button:has-text('Create group')").count() == 0
    shoot(page, "groups")
    page.goto(f"{url}/devices/")
    assert page.locator("tbody tr").count() == Device.objects.count()
    shoot(page, "devices")

    # Sync status: "Sync now" runs the task and the row shows it done.
    from coldchain.celery import app

    app.conf.task_always_eager = True
    try:
        page.goto(f"{url}/sync/")
        page.locator("button:has-text('Sync now')").first.click()
        page.wait_for_selector(".progress:has-text('Done'), .progress:has-text('Failed')", timeout=60_000)
        assert page.locator(".progress").first.inner_text().startswith("Done")
    finally:
        app.conf.task_always_eager = False
    shoot(page, "sync")

    # The time zone: chosen on the preferences page, named on every page.
    page.click("a:has-text('Times in')")
    page.select_option("#id_timezone", "Europe/Helsinki")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text=Times in Europe/Helsinki")
    portrait = browser.new_context(
        viewport={"width": 820, "height": 1180}, storage_state=context.storage_state()
    )
    tablet = portrait.new_page()
    tablet.goto(f"{url}/")
    shoot(tablet, "overview-tablet-portrait")
    portrait.close()
    context.close()
    assert problems == []
