"""The overview in a real browser (Debian's Chromium through Playwright): the worst device comes first,
the summary strip filters, the pages of cards, and no status word is ever clipped, from a phone to a
wide screen. Full-page screenshots go to screenshots/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from monitoring.models import AlarmRule, Channel, Device, Excursion
from tests.factories import PASSWORD, make_account, make_user
from tests.test_browser_dashboard import ARGS, CHROMIUM, pytestmark, shoot  # noqa: F401 (the skip marks)

WIDTHS = [1400, 1024, 820, 600, 375]
# Every badge and strip item whose text is cut (wider than its box) or that sticks out of its card.
CLIPPED = """() => {
    const cut = [];
    for (const el of document.querySelectorAll('.tile .status, .status-strip a')) {
        const box = el.getBoundingClientRect();
        const card = el.closest('.tile, .status-strip').getBoundingClientRect();
        if (el.scrollWidth > el.clientWidth + 1 || box.right > card.right + 1 || box.left < card.left - 1) {
            cut.push(el.textContent.trim());
        }
    }
    return cut;
}"""


@pytest.fixture
def chromium(monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def fleet(db):
    """70 fridges in range (so there is a second page), and one device of each other status, named so
    that alphabetical order would bury every one of them."""
    now = timezone.now()
    thermo, tandd = make_account(), make_account(slug="tandd", name="T&D")
    fridges = Device.objects.bulk_create(
        Device(account=thermo, vendor_id=f"f{i}", name=f"Fridge {i:02d}", battery=90) for i in range(70)
    )
    Channel.objects.bulk_create(
        Channel(device=d, name="temp", quantity="temperature", unit="C", last_value=5.0, last_reading_at=now)
        for d in fridges
    )

    def device(name: str, value: float | None = 5.0, **fields) -> Device:
        made = Device.objects.create(account=tandd, vendor_id=name, name=name, **fields)
        Channel.objects.create(
            device=made,
            name="temp",
            quantity="temperature",
            unit="C",
            last_value=value,
            last_reading_at=now if value is not None else None,
        )
        AlarmRule.objects.create(name=f"2-8 °C {name}", device=made, low_limit=2, high_limit=8)
        return made

    hot = device("Zulu vaccine freezer with a long name", 14.2)
    Excursion.objects.create(channel=hot.channels.get(), started_at=now - timedelta(hours=3), high_limit=8)
    broken = device("Yankee cold room")
    Channel.objects.filter(device=broken).update(last_error="E01 probe open")
    device("X-ray silent logger", None)
    device("Whiskey near the limit", 7.8)
    reviewed = device("Victor fridge, in range again")
    Excursion.objects.create(
        channel=reviewed.channels.get(),
        started_at=now - timedelta(hours=9),
        ended_at=now - timedelta(hours=8),
        high_limit=8,
    )
    device("Uniform truck", battery=8)
    make_user("qa")
    return hot


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_qa_user_sees_the_worst_device_first_and_filters_by_the_summary(live_server, fleet, chromium):
    context = chromium.new_context(viewport={"width": WIDTHS[0], "height": 900}, timezone_id="UTC")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            # Chromium asks for /favicon.ico by itself; the page does not link one.
            if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    page.goto(f"{live_server.url}/login/?next=/")
    page.fill("#id_username", "qa")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # The worst first: out of range now, then sensor error, no data, near a limit, an excursion to
    # review, low battery; the 70 fridges in range after them.
    heads = page.locator(".tile .tile-head")
    firsts = [heads.nth(n).inner_text().split("\n") for n in range(7)]
    assert firsts == [
        ["Zulu vaccine freezer with a long name", "Out of range"],
        ["Yankee cold room", "Sensor error"],
        ["X-ray silent logger", "No data"],
        ["Whiskey near the limit", "Near a limit"],
        ["Victor fridge, in range again", "Open excursion"],
        ["Uniform truck", "Low battery"],
        ["Fridge 00", "In range"],
    ]
    strip = " ".join(page.locator(".status-strip").inner_text().split())
    assert "1 Out of range now 1 Sensor error" in strip and "70 In range 76 All devices" in strip
    assert "Page 1 of 2" in page.locator(".pager").inner_text()

    # No status word clipped, from a wide screen to a phone.
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate(CLIPPED) == [], f"clipped at {width} px"
        if width in (1400, 820, 375):
            shoot(page, f"overview-{width}px")

    # A count of the strip is a filter; the cards follow, and the other counts stay.
    page.set_viewport_size({"width": 1024, "height": 900})
    page.click(".status-strip a[data-status='sensor_error']")
    page.wait_for_url("**/?status=sensor_error")
    assert [heads.nth(n).inner_text().split("\n")[0] for n in range(heads.count())] == ["Yankee cold room"]
    assert page.locator(".status-strip a[aria-current='true']").inner_text().split() == [
        "1",
        "Sensor",
        "error",
    ]
    assert page.locator("#id_status").input_value() == "sensor_error"
    shoot(page, "overview-sensor-errors")

    # The second page of everything, through htmx, keeps the order.
    page.click(".status-strip a.all")
    page.wait_for_url(f"{live_server.url}/?")
    page.click(".pager a[rel=next]")
    page.wait_for_url("**/?page=2")
    assert heads.first.inner_text().split("\n")[0] == "Fridge 54"
    assert heads.count() == 76 - 60
    # One device found by its name.
    page.fill("#id_q", "yankee")
    expect(page.locator(".tile")).to_have_count(1)
    assert "Yankee cold room" in page.locator(".tile").inner_text()
    assert " ".join(page.locator(".status-strip").inner_text().split()).startswith(
        "0 Out of range now 1 Sensor"
    )
    context.close()
    assert problems == []
