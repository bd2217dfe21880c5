"""The Alerts inbox in a real browser (Chromium through Playwright), on a database with 500 vendor events:
every excursion to handle is listed, a wrong signature password leaves the page as it was, one signed
acknowledgement covers an excursion and the vendor's alarm of the same event, zone and speed events are
acknowledged in bulk, the report is asked for from the page. Screenshots go to screenshots/."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import AuditRecord, Channel, Device, Excursion, ExcursionReportFile, VendorAlert
from tests.factories import PASSWORD, make_account, make_user
from tests.test_browser_dashboard import CHROMIUM, SCREENSHOTS, TABLET, browser, pytestmark, shoot  # noqa: F401

EVENT_CODES = ["zone_in", "overspeed", "stop_duration", "ByZoneEnter"]


@pytest.fixture
def inbox(db):
    """Two fleets with 500 vendor events over a week, and excursions: three still going on (two of them
    six days old, older than 430 of the events), two channels of one fridge at the same moment, one
    acknowledged, closed ones; a vendor temperature alarm of the same event as the newest excursion."""
    now = timezone.now().replace(microsecond=0)
    fleet = make_account(slug="trackgps", name="Fleet")
    units = make_account(slug="trackunit", name="Units", credentials={"token": "t-123456789012"})
    trucks = [
        Device.objects.create(account=fleet, vendor_id=f"t{n}", name=f"Truck {n}", kind="vehicle")
        for n in (1, 2)
    ]
    fridge = Device.objects.create(account=units, vendor_id="f1", name="Vaccine fridge")
    probes = [
        Channel.objects.create(device=fridge, name=name, label=label, quantity="temperature", unit="C")
        for name, label in (("temperature1", "Top shelf"), ("temperature2", "Bottom shelf"))
    ]
    events = [
        VendorAlert(
            account=fleet,
            device=trucks[(n // 4) % 2],
            vendor_alert_id=f"e{n}",
            alert_type=EVENT_CODES[n % len(EVENT_CODES)],
            message="Zone in (Tampere)" if n % 4 == 0 else "",
            started_at=now - timedelta(minutes=20 * n + 5),
        )
        for n in range(499)
    ]
    VendorAlert.objects.bulk_create(events)
    alarm = VendorAlert.objects.create(
        account=units,
        device=fridge,
        vendor_alert_id="temp-1",
        alert_type="ByTemperature",
        started_at=now - timedelta(minutes=50),
    )

    def excursion(channel, started, **fields):
        return Excursion.objects.create(
            channel=channel, started_at=now - started, low_limit=2, high_limit=8, peak_value=11.2, **fields
        )

    going_on = [
        excursion(probes[0], timedelta(days=6)),
        excursion(probes[1], timedelta(days=6)),  # the same moment on the other shelf
        excursion(probes[0], timedelta(hours=1)),
    ]
    acknowledged = excursion(
        probes[1],
        timedelta(days=3),
        ended_at=now - timedelta(days=3, hours=-2),
        state="acknowledged",
        acknowledged_by=make_user("ana"),
        acknowledged_at=now - timedelta(days=2),
        acknowledgement_comment="Door left open",
    )
    closed = [
        excursion(probes[0], timedelta(days=d), ended_at=now - timedelta(days=d, hours=-1), state="closed")
        for d in (2, 4, 5)
    ]
    assert VendorAlert.objects.count() == 500
    make_user("qa")
    return {
        "going_on": going_on,
        "acknowledged": acknowledged,
        "closed": closed,
        "alarm": alarm,
        "trucks": trucks,
    }


def sign_as_qa(form, username: str = "qa") -> None:
    """The user name, where the form asks for it (the first signature of a session)."""
    field = form.locator("input[name=username]")
    if field.count():
        field.fill(username)


def logged_in(
    chromium, live_server, username: str, path: str, *, console: bool = True, ignore: str = "", **options
):
    """A new browser context and page, logged in as ``username`` and on ``path``, with the list its errors
    go to: the page's own, and (``console``) the console's, but those holding ``ignore``."""
    context = chromium.new_context(viewport=TABLET, **options)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    if console:
        page.on(
            "console",
            lambda m: (
                problems.append(m.text) if m.type == "error" and not (ignore and ignore in m.text) else None
            ),
        )
    page.goto(f"{live_server.url}/login/?next={path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{path}")
    return context, page, problems


# Serialized rollback: the roles (a data migration) are back even after another live-server test's flush.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_qa_user_works_through_the_alerts_inbox(live_server, inbox, browser):  # noqa: F811
    # A refused form is a 400 by design: Chromium logs its answer, which is no error of the page.
    context, page, problems = logged_in(
        browser, live_server, "qa", "/alerts/", ignore="status of 400 (Bad Request)"
    )
    url = live_server.url

    # Every excursion to handle is listed, however old; each row names its channel.
    handled = [*inbox["going_on"], inbox["acknowledged"]]
    for excursion in handled:
        assert page.locator(f"#excursion-{excursion.pk}").is_visible()
    assert page.locator("#excursion-list h2:has-text('To handle') + ul > li").count() == len(handled)
    old_pair = page.locator(f"#excursion-{inbox['going_on'][0].pk}, #excursion-{inbox['going_on'][1].pk}")
    assert sorted(old_pair.locator(".channel").all_inner_texts()) == [
        "Temperature (Bottom shelf)",
        "Temperature (Top shelf)",
    ]
    assert page.locator(".tabs").inner_text().count("to acknowledge") == 1
    assert "500 to acknowledge" in page.locator(".tabs").inner_text()
    newest = inbox["going_on"][2]
    row = page.locator(f"#excursion-{newest.pk}")
    assert "acknowledging this excursion acknowledges it too" in row.inner_text()
    shoot(page, "alerts-inbox")

    # A wrong signature password: the error inside the form, the page and its filters as they were.
    page.select_option("#id_severity", "alarm")
    page.wait_for_url(re.compile(r"severity=alarm"))
    page.wait_for_selector(f"#excursion-{newest.pk}")
    items = page.locator("li.alert-item").count()
    row = page.locator(f"#excursion-{newest.pk}")
    row.locator("summary").click()
    row.locator("textarea").fill("Compressor restarted")
    sign_as_qa(row)
    row.locator("input[type=password]").fill("not my password")
    row.locator("button[type=submit]").click()
    page.wait_for_selector(f"#excursion-{newest.pk} form .problem")
    assert "Signature refused" in page.locator(f"#excursion-{newest.pk} form .problem").inner_text()
    assert page.locator("h1").inner_text() == "Alerts"
    assert page.locator("header.topbar nav").is_visible() and page.locator(".tabs").is_visible()
    assert page.locator("#id_severity").input_value() == "alarm" and "severity=alarm" in page.url
    assert page.locator("li.alert-item").count() == items
    assert page.locator(f"#excursion-{newest.pk} textarea").input_value() == "Compressor restarted"
    shoot(page, "alerts-wrong-signature")

    # The right one: the excursion and the vendor's alarm of the same event, acknowledged and audited.
    sign_as_qa(row)
    row.locator("input[type=password]").fill(PASSWORD)
    row.locator("button[type=submit]").click()
    page.wait_for_selector(f"#excursion-{newest.pk} .acknowledged")
    assert "and 1 vendor alarm of the same event" in row.inner_text()
    alarm = VendorAlert.objects.get(pk=inbox["alarm"].pk)
    assert alarm.acknowledgement_comment == "Compressor restarted" and alarm.acknowledged_by.username == "qa"
    trail = AuditRecord.objects.filter(action="acknowledge")
    assert trail.filter(model="monitoring.vendoralert", object_id=str(alarm.pk)).count() == 1
    assert trail.filter(model="monitoring.excursion", object_id=str(newest.pk)).count() == 2

    # Vendor events: grouped by device and type in words; zone entries acknowledged in bulk.
    page.click(".tabs a:has-text('Vendor events')")
    page.wait_for_selector("#vendor-list")
    groups = page.locator("li.event-group")
    assert groups.count() == 2 * len(EVENT_CODES) + 1
    text = page.locator("#vendor-list").inner_text()
    assert "63 zone entries" in text and "62 overspeed events" in text and "1 temperature alarm" in text
    page.select_option("#id_kind", "zone")
    page.wait_for_url(re.compile(r"kind=zone"))
    page.wait_for_function("document.querySelectorAll('li.event-group').length === 4")
    shoot(page, "alerts-vendor-events")
    page.locator("button:has-text('Acknowledge the chosen events')").click()
    page.wait_for_selector(".bulk .problem")
    assert "Choose at least one group" in page.locator(".bulk").inner_text()
    page.check("input[data-check-all]")
    assert page.locator("li.event-group input[type=checkbox]:checked").count() == 4
    page.fill("#bulk-comment", "Planned route")
    page.locator("button:has-text('Acknowledge the chosen events')").click()
    page.wait_for_selector("text=249 events acknowledged")
    assert "kind=zone" in page.url and page.locator("#id_kind").input_value() == "zone"
    assert VendorAlert.objects.filter(acknowledgement_comment="Planned route").count() == 249
    # A group opens to its events.
    first = page.locator("li.event-group").first
    first.locator("summary").click()
    first.locator("li.event").first.wait_for()
    shoot(page, "alerts-vendor-zone-acknowledged")

    # The excursion report from the page: errors in the form, then the report asked for.
    page.click(".tabs a:has-text('Excursions')")
    page.fill("#report-end", "2020-01-01")
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#report-form .problem")
    assert "start must be before the end" in page.locator("#report-form").inner_text()
    assert page.locator("h1").inner_text() == "Alerts"
    page.fill("#report-end", (timezone.now() + timedelta(days=1)).date().isoformat())
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#report-form #report-progress")
    assert ExcursionReportFile.objects.filter(requested_by__username="qa").count() == 1
    shoot(page, "alerts-report-asked")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=context.storage_state())
    small = phone.new_page()
    small.goto(f"{url}/alerts/?tab=vendor")
    assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
    shoot(small, "alerts-vendor-phone")
    phone.close()
    context.close()
    assert problems == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_admin_gets_form_errors_in_place_on_the_rules_device_and_excursion_pages(
    live_server,
    inbox,
    browser,  # noqa: F811
):
    from django.contrib.auth.models import User

    boss = make_user("boss", role="Admin")
    User.objects.filter(pk=boss.pk).update(is_staff=True)
    context, page, problems = logged_in(browser, live_server, "boss", "/rules/", console=False)
    url = live_server.url

    # Rules: every number with its unit; the limits' unit follows the quantity; errors in the form.
    form = page.locator("#rule-form")
    assert form.locator(".unit").all_inner_texts().count("°C") == 3
    page.select_option("#id_quantity", "humidity")
    assert form.locator(".unit").all_inner_texts().count("% RH") == 3
    page.select_option("#id_quantity", "temperature")
    page.fill("#id_name", "Fridges")
    page.fill("#id_low_limit", "8")
    page.fill("#id_high_limit", "2")
    page.fill("#id_reason", "Vaccines")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#rule-form .problem")
    assert "Choose exactly one of" in page.locator("#rule-form .problem").first.inner_text()
    assert (
        page.locator("h1").inner_text() == "Alarm rules"
        and page.locator("#id_name").input_value() == "Fridges"
    )
    shoot(page, "rules-refused")
    page.select_option("#id_device", label="Vaccine fridge")
    page.fill("#id_low_limit", "2")
    page.fill("#id_high_limit", "8")
    page.locator("#rule-form button[type=submit]").click()
    page.wait_for_selector("text=Rule “Fridges” added.")
    assert "2 °C to 8 °C" in page.locator("table").inner_text()
    shoot(page, "rules")

    # The excursion page: a wrong signature answers inside its form.
    excursion = inbox["going_on"][0]
    page.goto(f"{url}/excursions/{excursion.pk}/")
    page.fill("#ack-comment", "Checked the load")
    sign_as_qa(page.locator("form:has(#ack-comment)"), "boss")
    page.locator("form:has(#ack-comment) input[type=password]").fill("wrong")
    page.click("button:has-text('Acknowledge and sign')")
    page.wait_for_selector("form .problem")
    assert "Signature refused" in page.locator("form .problem").inner_text()
    assert page.locator("#ack-comment").input_value() == "Checked the load"
    assert page.locator("h1").inner_text().startswith(f"Excursion #{excursion.pk}")
    shoot(page, "excursion-wrong-signature")

    # The installation status: changed in place, the history says who.
    fridge = excursion.channel.device
    page.goto(f"{url}/devices/{fridge.pk}/")
    page.select_option("#id_status", "quarantine")
    page.click("button:has-text('Change status')")
    page.wait_for_selector("#installation .message.success")
    assert "Vaccine fridge is now quarantine." in page.locator("#installation").inner_text()
    assert "boss" in page.locator("#installation table").inner_text()
    page.locator("#installation").screenshot(path=str(SCREENSHOTS / "installation-changed.png"))

    # The admin, named for the product.
    page.goto(f"{url}/admin/")
    assert page.locator("#site-name").inner_text() == "Cold chain administration"
    assert "Cold chain admin" in page.title()
    shoot(page, "admin")
    context.close()
    assert problems == []


# Serialized rollback: the roles (a data migration) are back even after another live-server test's flush.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_qa_user_acknowledges_a_device_health_alarm_in_the_inbox(live_server, browser):  # noqa: F811
    from alarms.health import check_device_health
    from alarms.models import HealthAlarm

    account = make_account(name="Pharmacy loggers")
    account.consecutive_failures, account.last_error = 6, "the vendor answered 503"
    account.save()
    now = timezone.now()
    Device.objects.create(account=account, vendor_id="f1", name="Vaccine fridge", battery=7, last_seen=now)
    Device.objects.create(account=account, vendor_id="f2", name="Freezer", last_seen=now - timedelta(hours=5))
    make_user("qa")
    assert check_device_health() == (3, 0)
    battery = HealthAlarm.objects.get(kind="low_battery")

    context, page, problems = logged_in(browser, live_server, "qa", "/alerts/", timezone_id="Europe/Helsinki")
    url = live_server.url
    assert "3 open" in page.locator(".tabs").inner_text()

    page.click(".tabs a:has-text('Device health')")
    page.wait_for_url(f"{url}/alerts/?tab=health")
    rows = page.locator("#health-list li.alert-item")
    assert rows.count() == 3
    texts = rows.all_inner_texts()
    assert any("Low battery" in t and "Vaccine fridge" in t for t in texts)
    assert any("No data from the device" in t and "Freezer" in t for t in texts)
    assert any("Vendor account sync failing" in t and "Pharmacy loggers" in t for t in texts)
    assert all(re.search(r"Since \d{4}-\d\d-\d\d \d\d:\d\d \S+", t) for t in texts), "since when, with zone"
    shoot(page, "alerts-device-health")

    row = page.locator(f"#health-{battery.pk}")
    row.locator("summary").click()
    row.locator("textarea[name=comment]").fill("Batteries ordered, fitted tomorrow")
    row.locator("button[type=submit]").click()
    page.wait_for_selector(f"#health-{battery.pk} .acknowledged")
    assert "Acknowledged by qa at " in page.locator(f"#health-{battery.pk}").inner_text()
    assert "2 open" in page.locator(".tabs").inner_text(), "the tab's figure follows"
    assert page.locator("#health-open-total").inner_text() == "(2)", "and the heading's"
    battery.refresh_from_db()
    assert battery.state == "acknowledged" and battery.acknowledgement_comment.startswith("Batteries")
    shoot(page, "alerts-device-health-acknowledged")
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
    shoot(page, "alerts-device-health-phone")
    assert problems == []
    context.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_qa_user_reaches_the_fifty_first_excursion_to_handle_by_show_more(live_server, browser):  # noqa: F811
    now = timezone.now().replace(microsecond=0)
    account = make_account(name="Pharmacy loggers")
    fridges = [
        Device.objects.create(account=account, vendor_id=f"f{n}", name=f"Fridge {n:02d}") for n in range(55)
    ]
    probes = [
        Channel.objects.create(device=fridge, name="temperature1", quantity="temperature", unit="C")
        for fridge in fridges
    ]
    excursions = [
        Excursion.objects.create(
            channel=probe, started_at=now - timedelta(days=n + 1), high_limit=8, peak_value=9.5
        )
        for n, probe in enumerate(probes)
    ]
    make_user("qa")

    context, page, problems = logged_in(browser, live_server, "qa", "/alerts/")
    url = live_server.url

    rows = page.locator("#attention-rows > li.alert-item")
    assert rows.count() == 50
    assert (
        "55 open or acknowledged: open ones first, 50 shown"
        in page.locator("#attention-summary").inner_text()
    )
    assert not page.locator(f"#excursion-{excursions[50].pk}").count()
    more = page.locator("#attention-more a")
    assert more.inner_text() == "Show 5 more"
    shoot(page, "alerts-show-more")
    more.click()
    page.locator(f"#excursion-{excursions[54].pk}").wait_for()
    assert rows.count() == 55, "the next page is added below, the first fifty stay"
    assert page.locator(f"#excursion-{excursions[50].pk}").is_visible()
    assert not page.locator("#attention-more a").count(), "no more to show"
    assert "(55 open or acknowledged)" in page.locator("#attention-summary").inner_text()
    assert page.url == f"{url}/alerts/"
    assert not problems
    context.close()
