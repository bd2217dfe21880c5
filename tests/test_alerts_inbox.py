"""The Alerts inbox and the forms that answer in place (issue 17), through Django's test client."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders
from django.utils import timezone

from monitoring.models import AlarmRule, AuditRecord, Channel, Device, Excursion, VendorAlert
from monitoring.vendor_events import EventKind, event_kind
from tests.factories import PASSWORD, make_account, make_user

HTMX = {"HX-Request": "true"}


@pytest.fixture
def qa(client, db):
    client.force_login(make_user("qa"))
    return client


@pytest.fixture
def boss(client, db):
    client.force_login(make_user("boss", role="Admin"))
    return client


@pytest.fixture
def fleet(db):
    """A truck with zone entries and overspeeds, a fridge whose vendor alarm matches our open excursion."""
    now = timezone.now()
    account = make_account(slug="trackunit", name="Units", credentials={"token": "t-123456789012"})
    truck = Device.objects.create(account=account, vendor_id="t1", name="Truck 1", kind="vehicle")
    fridge = Device.objects.create(account=account, vendor_id="f1", name="Vaccine fridge")
    probe = Channel.objects.create(device=fridge, name="temperature1", quantity="temperature", unit="C")
    zones = [
        VendorAlert.objects.create(
            account=account,
            device=truck,
            vendor_alert_id=f"z{n}",
            alert_type="ByZoneEnter",
            started_at=now - timedelta(hours=n + 1),
        )
        for n in range(3)
    ]
    alarm = VendorAlert.objects.create(
        account=account,
        device=fridge,
        vendor_alert_id="t1",
        alert_type="ByTemperature",
        started_at=now - timedelta(minutes=40),
    )
    excursion = Excursion.objects.create(
        channel=probe, started_at=now - timedelta(minutes=55), high_limit=8, peak_value=12.0
    )
    return {"account": account, "zones": zones, "alarm": alarm, "excursion": excursion, "truck": truck}


def test_vendor_codes_are_told_in_words():
    assert event_kind("ByZoneEnter") == event_kind("zone_in") == EventKind.ZONE
    assert event_kind("stop_duration") == EventKind.STOP and event_kind("overspeed") == EventKind.SPEED
    assert event_kind("ByTemperature") == event_kind("temperature high") == EventKind.TEMPERATURE
    assert event_kind("custom", "Temperature above 8") == EventKind.TEMPERATURE
    assert event_kind("heartbeat missed") == EventKind.NO_DATA
    assert event_kind("custom", "Door opened") == EventKind.OTHER


def test_vendor_events_are_grouped_by_device_and_type_and_filtered_by_source_and_type(qa, fleet):
    other = make_account(slug="trackgps", name="Fleet B")
    VendorAlert.objects.create(
        account=other, vendor_alert_id="o1", alert_type="overspeed", started_at=timezone.now()
    )
    page = qa.get("/alerts/", {"tab": "vendor"}).content.decode()
    assert "3 zone entries" in page and "1 temperature alarm" in page and "1 overspeed" in page
    assert "ByZoneEnter" in page  # the code, small, for whoever talks to the vendor
    only_units = qa.get("/alerts/", {"tab": "vendor", "source": fleet["account"].pk}).content.decode()
    assert "3 zone entries" in only_units and "overspeed" not in only_units
    zones = qa.get("/alerts/", {"tab": "vendor", "kind": "zone"}).content.decode()
    assert "3 zone entries" in zones and "1 temperature alarm" not in zones


def test_an_open_temperature_alarm_is_acknowledged_with_its_excursion_and_audited_as_both(qa, fleet):
    alarm, excursion = fleet["alarm"], fleet["excursion"]
    events = qa.get(
        "/alerts/", {"tab": "vendor", "group": f"{alarm.account_id}:{alarm.device_id}:ByTemperature"}
    )
    assert "Same event as our excursion" in events.content.decode()
    assert f'href="/excursions/{excursion.pk}/"' in events.content.decode()  # its page, whatever its place
    refused = qa.post(f"/alerts/vendor/{alarm.pk}/acknowledge/", {"comment": "Seen"}, headers=HTMX)
    assert refused.status_code == 400 and "acknowledge the excursion" in refused.content.decode()
    answer = qa.post(
        f"/alerts/excursion/{excursion.pk}/acknowledge/",
        {"comment": "Door left open", "username": "qa", "password": PASSWORD},
        headers=HTMX,
    )
    assert answer.status_code == 200 and "and 1 vendor alarm of the same event" in answer.content.decode()
    alarm.refresh_from_db()
    assert alarm.acknowledgement_comment == "Door left open"
    on_alarm = AuditRecord.objects.get(
        model="monitoring.vendoralert", object_id=str(alarm.pk), action="acknowledge"
    )
    assert f"excursion {excursion.pk}" in on_alarm.reason
    on_excursion = AuditRecord.objects.filter(model="monitoring.excursion", object_id=str(excursion.pk))
    assert any("ByTemperature" in str(r.changes) for r in on_excursion)


def test_without_javascript_an_acknowledged_excursion_is_shown_on_its_own_page(qa, fleet):
    """The inbox lists fifty at a time: the excursion just acknowledged may not be on the first page."""
    excursion = fleet["excursion"]
    answer = qa.post(
        f"/alerts/excursion/{excursion.pk}/acknowledge/",
        {"comment": "Door left open", "username": "qa", "password": PASSWORD},
    )
    assert answer.status_code == 302 and answer["Location"] == f"/excursions/{excursion.pk}/"
    page = qa.get(answer["Location"]).content.decode()
    assert "Acknowledged." in page and "Door left open" in page


def test_an_excursions_signature_form_comes_when_acknowledge_opens(qa, fleet):
    """The list draws no signature form (fifty of them were a third of the page's time): opening
    "Acknowledge" fetches the excursion's own; without JavaScript, a link leads to its page."""
    excursion = fleet["excursion"]
    url = f"/alerts/excursion/{excursion.pk}/acknowledge/"
    page = qa.get("/alerts/").content.decode()
    row = page[page.index(f'id="excursion-{excursion.pk}"') :]
    row = row[: row.index("</li>")]
    assert "<summary>Acknowledge</summary>" in row and 'type="password"' not in row
    assert f'hx-get="{url}" hx-trigger="toggle once"' in row
    assert f'<noscript><p><a href="/excursions/{excursion.pk}/#excursion-actions">' in row

    form = qa.get(url, headers=HTMX)
    html = form.content.decode()
    assert form.status_code == 200 and "<html" not in html
    assert f'hx-post="{url}"' in html and 'type="password"' in html and "autofocus" in html
    assert 'name="username"' in html, "the session's first signature asks for the user name"
    assert 'name="csrfmiddlewaretoken"' in html
    assert qa.get(url)["Location"] == f"/excursions/{excursion.pk}/#excursion-actions", "without htmx"

    # Acknowledged by someone else since the list was drawn: said so, instead of a form.
    qa.post(url, {"comment": "Door left open", "username": "qa", "password": PASSWORD}, headers=HTMX)
    late = qa.get(url, headers=HTMX).content.decode()
    assert "No longer open: acknowledged by qa at " in late and 'type="password"' not in late


def test_zone_events_are_acknowledged_in_bulk_but_temperature_alarms_never(qa, fleet):
    account, truck, alarm = fleet["account"], fleet["truck"], fleet["alarm"]
    seen = VendorAlert.objects.order_by("-pk").first().pk
    temperature = {
        "group": f"{account.pk}:{alarm.device_id}:ByTemperature",
        "comment": "all",
        "seen_up_to": seen,
    }
    refused = qa.post("/alerts/vendor/acknowledge/?kind=", temperature, headers=HTMX)
    assert refused.status_code == 400 and "one by one" in refused.content.decode()
    assert not VendorAlert.objects.filter(acknowledged_at__isnull=False).exists()
    # An event that arrives after the page was drawn is not acknowledged unseen.
    late = VendorAlert.objects.create(
        account=account,
        device=truck,
        vendor_alert_id="z-late",
        alert_type="ByZoneEnter",
        started_at=timezone.now(),
    )
    zones = {"group": f"{account.pk}:{truck.pk}:ByZoneEnter", "comment": "Planned route", "seen_up_to": seen}
    answer = qa.post("/alerts/vendor/acknowledge/?tab=vendor&kind=zone", zones, headers=HTMX)
    html = answer.content.decode()
    assert answer.status_code == 200 and "3 events acknowledged" in html and "<html" not in html
    assert 'value="zone" selected' in html or "kind=zone" in html  # the filters stay
    assert VendorAlert.objects.filter(acknowledgement_comment="Planned route").count() == 3
    late.refresh_from_db()
    assert late.acknowledged_at is None
    assert AuditRecord.objects.filter(model="monitoring.vendoralert", action="acknowledge").count() == 3
    no_comment = qa.post("/alerts/vendor/acknowledge/", zones | {"comment": " "}, headers=HTMX)
    assert no_comment.status_code == 400 and "A comment is required" in no_comment.content.decode()


def test_every_excursion_is_reachable_closed_ones_fifty_at_a_time_newest_first(qa, fleet, settings):
    probe = fleet["excursion"].channel
    start = timezone.now() - timedelta(days=400)
    Excursion.objects.bulk_create(
        Excursion(
            channel=probe,
            started_at=start + timedelta(hours=n),
            ended_at=start + timedelta(hours=n, minutes=5),
            state="closed",
        )
        for n in range(120)
    )
    forgotten = Excursion.objects.create(channel=probe, started_at=start - timedelta(days=30))
    newest_first = [
        f"excursion-{pk}"
        for pk in Excursion.objects.filter(state="closed")
        .order_by("-started_at")
        .values_list("pk", flat=True)
    ]

    def closed_rows(page: str) -> list[str]:
        return re.findall(r'<li class="alert-item[^"]*" id="(excursion-\d+)"', page.split("<h2>Closed")[-1])

    page = qa.get("/alerts/").content.decode()
    assert f'id="excursion-{forgotten.pk}"' in page, "to handle, however old"
    assert closed_rows(page) == newest_first[:50]
    assert "(120, newest first: 50 shown)" in page and "Show 50 more" in page
    # Without JavaScript, the link lists every closed one up to the next page.
    link = re.search(r'<a href="(/alerts/\?[^"#]*)#closed-more"', page).group(1).replace("&amp;", "&")
    assert closed_rows(qa.get(link).content.decode()) == newest_first[:100]
    # With htmx, only the next page's rows; the last page has no link.
    more = qa.get(link, headers=HTMX | {"HX-Target": "closed-rows"}).content.decode()
    assert re.findall(r'id="(excursion-\d+)"', more) == newest_first[50:100]
    assert 'id="closed-more" class="more" hx-swap-oob="true"' in more and "Show 20 more" in more
    last = qa.get("/alerts/", {"closed": "3"}, headers=HTMX | {"HX-Target": "closed-rows"}).content.decode()
    assert re.findall(r'id="(excursion-\d+)"', last) == newest_first[100:]
    assert "Show" not in last and "(120)" in last
    assert qa.get("/alerts/", {"closed": "-1"}).status_code == 400
    Excursion.objects.filter(state="closed").delete()
    assert "No closed excursion." in qa.get("/alerts/", {"tab": "excursions"}).content.decode()
    filtered = qa.get("/alerts/", {"severity": "warning"}).content.decode()
    assert "No closed excursion matches the filters." in filtered


def test_excursions_to_handle_come_fifty_at_a_time_open_first_and_the_last_is_reachable(qa, fleet):
    probe = fleet["excursion"].channel
    now = timezone.now()
    start = now - timedelta(days=90)
    Excursion.objects.bulk_create(
        Excursion(
            channel=probe,
            started_at=start + timedelta(hours=n),
            ended_at=start + timedelta(hours=n, minutes=5),
        )
        for n in range(60)
    )
    acknowledged = Excursion.objects.create(
        channel=probe,
        started_at=now - timedelta(minutes=5),
        state="acknowledged",
        acknowledged_by=make_user("ana"),
        acknowledged_at=now,
        acknowledgement_comment="Door left open",
    )
    oldest_open = Excursion.objects.filter(state="open").order_by("started_at").first()

    def rows(page: str) -> list[str]:
        return re.findall(r'<li class="alert-item[^"]*" id="(excursion-\d+)"', page)

    first = qa.get("/alerts/").content.decode()
    assert len(rows(first)) == 50 and f"excursion-{acknowledged.pk}" not in rows(first)
    assert "62 open or acknowledged: open ones first, 50 shown" in first
    assert "Show 12 more" in first
    # Without JavaScript the link lists every row up to the next page: the last open one, then the
    # acknowledged one, however new.
    link = re.search(r'<a href="(/alerts/\?[^"#]*)#attention-more"', first).group(1)
    everything = qa.get(link.replace("&amp;", "&")).content.decode()
    assert len(rows(everything)) == 62 and "Show" not in everything.split('id="attention-more"')[1][:200]
    assert rows(everything)[-2:] == [f"excursion-{oldest_open.pk}", f"excursion-{acknowledged.pk}"]
    # With htmx, "show more" brings only the next page's rows and replaces the link.
    more = qa.get(link.replace("&amp;", "&"), headers=HTMX | {"HX-Target": "attention-rows"}).content.decode()
    assert rows(more) == rows(everything)[50:]
    assert 'id="attention-more" class="more" hx-swap-oob="true"' in more
    assert "62 open or acknowledged)" in more
    assert qa.get("/alerts/", {"page": "zero"}).status_code == 400


def test_the_report_is_asked_for_from_the_alerts_page_in_place(qa, fleet, monkeypatch):
    from monitoring import tasks

    monkeypatch.setattr(tasks.build_excursion_report, "delay", lambda *args, **kwargs: None)
    assert 'id="report-form"' in qa.get("/alerts/").content.decode()
    bad = qa.post(
        "/excursions/report/", {"start": "2026-12-01", "end": "2026-11-01", "format": "pdf"}, headers=HTMX
    )
    assert bad.status_code == 400 and "start must be before the end" in bad.content.decode()
    assert "<html" not in bad.content.decode()
    today = timezone.now().date()
    data = {"start": (today - timedelta(days=7)).isoformat(), "end": (today + timedelta(days=1)).isoformat()}
    asked = qa.post("/excursions/report/", data | {"format": "pdf"}, headers=HTMX)
    assert asked.status_code == 200 and 'id="report-progress"' in asked.content.decode()


def test_a_wrong_signature_on_the_excursion_page_answers_inside_its_form(qa, fleet):
    excursion = fleet["excursion"]
    url = f"/excursions/{excursion.pk}/acknowledge/"
    wrong = qa.post(url, {"comment": "Door left open", "username": "qa", "password": "nope"}, headers=HTMX)
    html = wrong.content.decode()
    assert wrong.status_code == 400 and "<html" not in html and "<form" in html
    assert "Signature refused" in html and "Door left open" in html and "nope" not in html
    right = qa.post(url, {"comment": "Door left open", "username": "qa", "password": PASSWORD}, headers=HTMX)
    assert right["HX-Redirect"] == f"/excursions/{excursion.pk}/"


def test_the_rule_form_shows_units_and_answers_inside_itself(boss, fleet):
    page = boss.get("/rules/").content.decode()
    for unit in ("°C", "min a day", "kJ/mol", ">min<"):
        assert unit in page, unit
    data = {
        "name": "2–8",
        "quantity": "temperature",
        "device": fleet["truck"].pk,
        "low_limit": 8,
        "high_limit": 2,
    }
    data |= {"delay_minutes": 0, "clear_margin": 0, "severity": "alarm", "activation_energy": 83.144}
    refused = boss.post("/rules/", data | {"reason": "Vaccines"}, headers=HTMX)
    html = refused.content.decode()
    assert refused.status_code == 400 and html.lstrip().startswith("<form") and "below the high limit" in html
    added = boss.post("/rules/", data | {"low_limit": 2, "high_limit": 8, "reason": "Vaccines"}, headers=HTMX)
    assert added["HX-Redirect"] == "/rules/" and AlarmRule.objects.filter(name="2–8").exists()
    assert "2 °C to 8 °C" in boss.get("/rules/").content.decode()


def test_the_rules_page_costs_the_same_queries_for_few_or_many_channels(boss, fleet):
    """The form's channel choice names each channel with its device: one query, not one a channel."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            answer = boss.get("/rules/")
        assert answer.status_code == 200
        return len(captured), answer.content.decode()

    before, _ = queries()
    for n in range(20):
        device = Device.objects.create(account=fleet["account"], vendor_id=f"d{n}", name=f"Fridge {n}")
        Channel.objects.create(device=device, name="temperature1", quantity="temperature", unit="C")
    after, page = queries()
    assert after == before
    fridge = Channel.objects.get(device__name="Fridge 7")
    assert f'<option value="{fridge.pk}">Fridge 7 / temperature1</option>' in page
    rule = AlarmRule.objects.create(name="Fridge 7", channel=fridge, high_limit=8)
    edit = boss.get(f"/rules/{rule.pk}/").content.decode()
    assert f'<option value="{fridge.pk}" selected>Fridge 7 / temperature1</option>' in edit


def test_the_installation_status_answers_inside_its_section(boss, fleet):
    truck = fleet["truck"]
    bad = boss.post(f"/devices/{truck.pk}/installation/", {"status": "lost"}, headers=HTMX)
    assert (
        bad.status_code == 400
        and 'id="installation"' in bad.content.decode()
        and "problem" in bad.content.decode()
    )
    done = boss.post(f"/devices/{truck.pk}/installation/", {"status": "quarantine"}, headers=HTMX)
    html = done.content.decode()
    assert done.status_code == 200 and "Truck 1 is now quarantine." in html and "<html" not in html
    assert "boss" in html  # the history, with who


def test_the_sync_row_comes_back_with_its_figures_when_the_sync_ends(qa, fleet):
    account = fleet["account"]
    requested = timezone.now() - timedelta(seconds=5)
    account.last_success_at = timezone.now()
    account.save()
    done = qa.get(f"/sync/{account.pk}/progress/", {"since": requested.isoformat()}, headers=HTMX)
    assert done.status_code == 286 and done["HX-Retarget"] == f"#account-{account.pk}"
    html = done.content.decode()
    assert html.lstrip().startswith(f'<tr id="account-{account.pk}"') and "Done" in html


def test_the_admin_is_named_for_the_product_and_every_page_has_our_icon(boss):
    from django.contrib.auth.models import User

    User.objects.filter(username="boss").update(is_staff=True)
    assert "Cold chain administration" in boss.get("/admin/").content.decode()
    assert "img/favicon.svg" in boss.get("/alerts/").content.decode()
    icon = boss.get("/favicon.ico")
    assert icon.status_code == 302 and icon["Location"].endswith("img/favicon.svg")
    assert finders.find("img/favicon.svg")


def test_the_inbox_costs_the_same_queries_for_few_or_many_events(qa, fleet):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(params) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert qa.get("/alerts/", params).status_code == 200
        return len(captured)

    before = (queries({}), queries({"tab": "vendor"}))
    account, truck = fleet["account"], fleet["truck"]
    now = timezone.now()
    for n in range(5):
        other = Device.objects.create(account=account, vendor_id=f"x{n}", name=f"Truck x{n}", kind="vehicle")
        probe = Channel.objects.create(device=other, name="temperature1", quantity="temperature", unit="C")
        Excursion.objects.create(channel=probe, started_at=now - timedelta(days=n + 1), high_limit=8)
        VendorAlert.objects.create(
            account=account, device=other, vendor_alert_id=f"x{n}", alert_type="ByTemperature", started_at=now
        )
        VendorAlert.objects.create(
            account=account, device=truck, vendor_alert_id=f"s{n}", alert_type=f"Custom {n}", started_at=now
        )
    assert (queries({}), queries({"tab": "vendor"})) == before


@pytest.fixture
def health_alarms(db):
    """An open low battery, an open failing sync whose condition is over, one acknowledged no-data."""
    from alarms.models import HealthAlarm

    now = timezone.now()
    account = make_account(name="Pharmacy loggers")
    fridge = Device.objects.create(account=account, vendor_id="f1", name="Vaccine fridge", battery=9)
    freezer = Device.objects.create(account=account, vendor_id="f2", name="Freezer")
    boss = make_user("admin1", role="Admin")
    return {
        "battery": HealthAlarm.objects.create(
            kind="low_battery", device=fridge, detail="Battery 9 % (alarm below 20 %)", opened_at=now
        ),
        "sync": HealthAlarm.objects.create(
            kind="sync_failing",
            account=account,
            detail="5 failed syncs in a row: the vendor answered 503",
            opened_at=now - timedelta(days=20),
            cleared_at=now - timedelta(days=19),
        ),
        "silent": HealthAlarm.objects.create(
            kind="no_data",
            device=freezer,
            detail="Nothing received since 2026-11-20 08:00 UTC",
            opened_at=now - timedelta(days=2),
            state="acknowledged",
            acknowledged_at=now - timedelta(days=1),
            acknowledged_by=boss,
            acknowledgement_comment="Logger replaced",
        ),
    }


def test_device_health_alarms_are_in_the_inbox_open_first_with_their_count(qa, health_alarms):
    page = qa.get("/alerts/").content.decode()
    assert 'href="/alerts/?tab=health"' in page and "2 open" in page, "the tab and its count on every tab"
    page = qa.get("/alerts/", {"tab": "health"}).content.decode()
    battery, sync, silent = (page.index(f'id="health-{a.pk}"') for a in health_alarms.values())
    assert battery < sync < silent, "open ones first (newest first, however old), then acknowledged"
    assert "<strong>Low battery</strong>" in page and "Vaccine fridge" in page
    assert "<strong>Vendor account sync failing</strong>" in page and "Pharmacy loggers" in page
    assert "Condition over" in page and "Still going on" in page
    opened = timezone.localtime(health_alarms["battery"].opened_at)
    assert f"Since {opened:%Y-%m-%d %H:%M} UTC" in page, "since when, with the zone"
    assert "Acknowledged by admin1 at " in page and "Logger replaced" in page
    assert page.count("<summary>Acknowledge</summary>") == 2, "only open ones can be acknowledged"


def test_a_health_alarm_is_acknowledged_in_place_and_its_escalation_stops(qa, health_alarms):
    from alarms.models import Escalation, EscalationPolicy

    battery = health_alarms["battery"]
    policy = EscalationPolicy.objects.get(for_device_health=True)
    escalation = Escalation.objects.create(health_alarm=battery, policy=policy, next_at=timezone.now())
    url = f"/device-health/{battery.pk}/acknowledge/"

    refused = qa.post(url, {"comment": "  "}, headers=HTMX)
    assert refused.status_code == 400
    assert "A comment is required to acknowledge an alarm." in refused.content.decode()
    assert f'id="health-{battery.pk}"' in refused.content.decode(), "the row itself, to swap in place"

    answer = qa.post(url, {"comment": "New batteries ordered"}, headers=HTMX)
    row = answer.content.decode()
    assert answer.status_code == 200 and row.lstrip().startswith("<li")
    assert "Acknowledged by qa at " in row and "New batteries ordered" in row
    assert "<summary>Acknowledge</summary>" not in row
    assert 'id="health-count" class="count bad" hx-swap-oob="true">1 open<' in row, "the tab's figure too"
    escalation.refresh_from_db()
    assert escalation.stop_reason == "acknowledged" and escalation.next_at is None
    assert AuditRecord.objects.filter(
        model="alarms.healthalarm", action="acknowledge", username="qa"
    ).exists()
    page = qa.get("/alerts/", {"tab": "health"}).content.decode()
    assert "1 open" in page

    # Without JavaScript: back to the tab, at the row, with the outcome.
    again = qa.post(f"/device-health/{health_alarms['sync'].pk}/acknowledge/", {"comment": "Key renewed"})
    assert again.url == f"/alerts/?tab=health#health-{health_alarms['sync'].pk}"
    assert "0 open" in qa.get(again.url).content.decode()


def test_whoever_may_not_see_device_health_has_no_tab(client, health_alarms):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_user("visitor", password=PASSWORD))
    assert "tab=health" not in client.get("/alerts/").content.decode()
    assert client.get("/alerts/", {"tab": "health"}).status_code == 403
    assert (
        client.post(
            f"/device-health/{health_alarms['battery'].pk}/acknowledge/", {"comment": "x"}
        ).status_code
        == 403
    )
