"""What issue 19's planned interventions and calibration certificates change on the charts, the overview and
the excursion report: suppression windows shaded on the charts, suppressed excursions listed as such in
the report (PDF, CSV, email), overdue calibrations on the overview and in the report, and the opt-in
calibration offset on the values shown (stored readings never change)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

import pypdf
from django.contrib.auth.models import User
from django.utils import timezone

from alarms.models import SuppressionWindow
from alarms.suppression import settle_suppressions
from monitoring import figures
from monitoring.models import AlarmRule, Channel, DataGap, Reading
from monitoring.reports import build_report, build_report_email, render_csv, render_pdf
from tests.conftest import FIXED_NOW
from tests.factories import PASSWORD, make_account
from tests.test_alarms_calibration import certificate
from tests.test_alarms_escalation import back_in_range, fridge_channel
from tests.test_dashboard import figure_of, make_device
from tests.test_notifications import warm_spell


def readings(channel: Channel, start: datetime, hours: int, value: float = 5.0) -> None:
    rows = [
        Reading(channel=channel, timestamp=start + timedelta(minutes=10 * i), value=value)
        for i in range(hours * 6)
    ]
    Reading.objects.bulk_create(rows)
    Channel.objects.filter(pk=channel.pk).update(last_reading_at=rows[-1].timestamp, last_value=value)


def window_bands(figure: dict) -> list[dict]:
    return [s for s in figure["layout"]["shapes"] if s.get("fillcolor") == figures.WINDOW_FILL]


def login(client) -> None:
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", PASSWORD))


# -- suppression windows on the charts ----------------------------------------------------------------


def test_a_recurring_window_is_expanded_within_the_range_on_its_local_clock(db):
    channel = fridge_channel()
    window = SuppressionWindow.objects.create(
        kind="defrost",
        reason="weekly",
        device=channel.device,
        weekdays="0,3",  # Mondays and Thursdays, 23:30 for an hour, Berlin time
        daily_start=clock(23, 30),
        duration_minutes=60,
        time_zone="Europe/Berlin",
    )
    # Monday 16 to Friday 20 November 2026 (CET, UTC+1): Monday's and Thursday's occurrences; the one of
    # Sunday-to-Monday is not the window's (Sundays are not chosen).
    found = window.occurrences_between(datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC))
    assert [(a.astimezone(UTC), b.astimezone(UTC)) for a, b in found] == [
        (datetime(2026, 11, 16, 22, 30, tzinfo=UTC), datetime(2026, 11, 16, 23, 30, tzinfo=UTC)),
        (datetime(2026, 11, 19, 22, 30, tzinfo=UTC), datetime(2026, 11, 19, 23, 30, tzinfo=UTC)),
    ]
    # An occurrence that began before the range and runs into it is there too.
    late = window.occurrences_between(
        datetime(2026, 11, 16, 23, 0, tzinfo=UTC), datetime(2026, 11, 17, tzinfo=UTC)
    )
    assert [a.astimezone(UTC) for a, _ in late] == [datetime(2026, 11, 16, 22, 30, tzinfo=UTC)]


def test_the_device_chart_shades_each_window_in_the_range_with_its_kind_and_reason(client, db):
    channel = fridge_channel()
    device = channel.device
    day = datetime(2026, 11, 18, tzinfo=UTC)
    readings(channel, day, 24 * 2)
    # Every day 06:00–06:45 UTC: two occurrences in the two days shown.
    SuppressionWindow.objects.create(
        kind="defrost",
        reason="weekly",
        device=device,
        weekdays="0,1,2,3,4,5,6",
        daily_start=clock(6, 0),
        duration_minutes=45,
        time_zone="UTC",
    )
    SuppressionWindow.objects.create(
        kind="maintenance",
        reason="Compressor service",
        channel=channel,
        starts_at=day + timedelta(hours=36),
        ends_at=day + timedelta(hours=39),
    )
    SuppressionWindow.objects.create(  # outside the range: not drawn
        kind="maintenance",
        reason="Last year's service",
        device=device,
        starts_at=day - timedelta(days=300),
        ends_at=day - timedelta(days=299),
    )
    DataGap.objects.create(device=device, start=day + timedelta(hours=40), end=day + timedelta(hours=41))
    login(client)

    answer = client.get(f"/devices/{device.pk}/?range=custom&start=2026-11-18&end=2026-11-19")
    assert answer.status_code == 200
    figure = figure_of(answer, "device-chart-data")
    bands = window_bands(figure)
    assert [(b["x0"], b["x1"], b["label"]["text"]) for b in bands] == [
        ("2026-11-18 06:00:00", "2026-11-18 06:45:00", "Defrost — weekly"),
        ("2026-11-19 06:00:00", "2026-11-19 06:45:00", "Defrost — weekly"),
        ("2026-11-19 12:00:00", "2026-11-19 15:00:00", "Maintenance — Compressor service"),
    ]
    assert all(b["line"]["dash"] == "dot" and b["yref"] == "paper" for b in bands)
    no_data = [s for s in figure["layout"]["shapes"] if s.get("fillcolor") == figures.GAP_FILL]
    assert [(s["x0"], s["label"]["text"]) for s in no_data] == [("2026-11-19 16:00:00", "No data")]
    page = answer.content.decode()
    assert "3 suppression windows in this range" in page
    assert "Maintenance — Compressor service, 2026-11-19 12:00 UTC to 2026-11-19 15:00 UTC" in page


def test_the_excursion_page_chart_shades_the_window_that_suppressed_it(client, db):
    channel = fridge_channel()
    SuppressionWindow.objects.create(
        kind="defrost",
        reason="Weekly defrost of the vaccine fridge",
        device=channel.device,
        starts_at=FIXED_NOW - timedelta(minutes=10),
        ends_at=FIXED_NOW + timedelta(minutes=90),
    )
    (excursion,) = warm_spell(channel)
    back_in_range(channel, FIXED_NOW + timedelta(minutes=60))
    login(client)

    answer = client.get(f"/excursions/{excursion.pk}/")
    (band,) = window_bands(figure_of(answer, "excursion-chart-data"))
    assert (band["x0"], band["x1"]) == ("2026-11-20 11:50:00", "2026-11-20 13:30:00")
    assert band["label"]["text"] == "Defrost — Weekly defrost of the vaccine fridge"
    assert (
        "Suppression window (shaded blue, dotted edge): Defrost — Weekly defrost" in answer.content.decode()
    )


# -- suppressed excursions and overdue calibrations in the report -------------------------------------


def second_channel(channel: Channel) -> Channel:
    other = Channel.objects.create(device=channel.device, name="Probe 2", quantity="temperature", unit="C")
    AlarmRule.objects.create(name="2–8 °C probe 2", channel=other, low_limit=2, high_limit=8)
    return other


def pdf_text(report) -> str:
    pages = pypdf.PdfReader(io.BytesIO(render_pdf(report))).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def test_the_report_lists_a_suppressed_excursion_as_suppressed_with_its_reason(settings, tmp_path, db):
    settings.MEDIA_ROOT = tmp_path
    channel = fridge_channel()
    other = second_channel(channel)
    SuppressionWindow.objects.create(
        kind="defrost",
        reason="Weekly defrost of the vaccine fridge",
        channel=channel,
        starts_at=FIXED_NOW - timedelta(minutes=10),
        ends_at=FIXED_NOW + timedelta(minutes=90),
    )
    (suppressed,) = warm_spell(channel)
    back_in_range(channel, FIXED_NOW + timedelta(minutes=60))
    settle_suppressions(now=FIXED_NOW + timedelta(hours=2))
    (ordinary,) = warm_spell(other)
    certificate(other, FIXED_NOW.date() - timedelta(days=3), number="K-77")  # overdue since the 17th
    certificate(channel, FIXED_NOW.date() + timedelta(days=100), number="K-78")  # not due yet

    report = build_report(FIXED_NOW - timedelta(hours=1), FIXED_NOW + timedelta(hours=3))
    assert [i.excursion for i in report.items] == [suppressed, ordinary]  # neither dropped

    rows = list(csv.DictReader(io.StringIO(render_csv(report).decode())))
    by_excursion = {int(r["excursion_id"]): r for r in rows}
    assert (by_excursion[suppressed.pk]["suppressed"], by_excursion[suppressed.pk]["suppression_reason"]) == (
        "yes",
        "Defrost: Weekly defrost of the vaccine fridge",
    )
    assert (by_excursion[ordinary.pk]["suppressed"], by_excursion[ordinary.pk]["suppression_reason"]) == (
        "",
        "",
    )

    text = pdf_text(report)
    assert f"#{suppressed.pk} Vaccine fridge / Measure – Out of range (Alarm) – SUPPRESSED" in text
    assert "Suppressed (defrost: Weekly defrost of the vaccine fridge)." in text
    assert f"#{ordinary.pk} Vaccine fridge / Probe 2 – Out of range (Alarm) Group" in text  # not suppressed
    assert "1 of them suppressed: inside a planned intervention" in text
    assert "2, 1 suppressed" in text  # the summary's count of excursions
    assert "Calibration overdue (1)" in text
    assert "Vaccine fridge Probe 2 K-77 Kalibrierlabor Nord 2026-11-17" in text
    assert "Calibration overdue since 2026-11-17 (certificate K-77)." in text  # with the excursion too

    message = build_report_email(report, ["qa@example.com"])
    body = message.body
    assert "2 excursions (1 suppressed)" in body
    assert (
        "  Suppressed (defrost: Weekly defrost of the vaccine fridge). A planned intervention: nobody was "
        "notified." in body
    )
    assert body.count("Suppressed (") == 1
    assert "Calibration overdue on 2026-11-20\n- Vaccine fridge / Probe 2: certificate K-77" in body
    html = message.alternatives[0][0]
    assert "<strong>Suppressed (defrost: Weekly defrost of the vaccine fridge).</strong>" in html


def test_a_report_of_a_period_before_a_certificate_fell_due_lists_no_overdue_calibration(
    settings, tmp_path, db
):
    settings.MEDIA_ROOT = tmp_path
    channel = fridge_channel()
    certificate(channel, date(2026, 11, 10), number="K-1")
    week_before = build_report(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC))
    assert week_before.overdue == []
    assert "No channel's calibration was overdue on 2026-11-07." in pdf_text(week_before)
    week_after = build_report(datetime(2026, 11, 12, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
    assert [(d, c, o.certificate_number) for d, c, o in week_after.overdue] == [
        ("Vaccine fridge", "Measure", "K-1")
    ]
    # A newer certificate of the whole device does not hide the channel's own (its own comes first).
    certificate(
        None, date(2027, 11, 1), number="D-1", device=channel.device, calibrated_on=date(2026, 11, 15)
    )
    assert [o.certificate_number for *_, o in build_report(week_after.start, week_after.end).overdue] == [
        "K-1"
    ]


# -- overdue calibration on the overview --------------------------------------------------------------


def test_the_overview_marks_devices_whose_calibration_is_overdue_and_filters_them(
    client, settings, tmp_path, db
):
    settings.MEDIA_ROOT = tmp_path
    settings.OVERVIEW_CACHE_SECONDS = 0
    account = make_account()
    late, fine, covered = (
        make_device(account, name) for name in ("Late fridge", "Fine fridge", "Covered fridge")
    )
    today = timezone.localdate()
    certificate(late.channels.get(name="humd"), today - timedelta(days=1), number="L-1")
    certificate(fine.channels.get(name="temp"), today + timedelta(days=1), number="F-1")
    # The whole device's certificate is overdue, but each channel has its own, newer one: not overdue.
    certificate(
        None,
        today - timedelta(days=30),
        number="C-0",
        device=covered,
        calibrated_on=today - timedelta(days=400),
    )
    for channel in covered.channels.all():
        certificate(channel, today + timedelta(days=200), number=f"C-{channel.name}")
    login(client)

    page = client.get("/").content.decode()
    tiles = {
        name: tile
        for name, tile in re.findall(
            r'<li class="tile[^"]*">.*?<a href="[^"]+">([^<]+)</a>(.*?)</li>', page, re.S
        )
    }
    assert "Calibration overdue" in tiles["Late fridge"]
    assert "Calibration overdue" not in tiles["Fine fridge"] + tiles["Covered fridge"]
    assert re.search(r"<strong>1</strong> Calibration overdue</a>", page)

    only = client.get("/?calibration=on").content.decode()
    assert "Late fridge" in only and "Fine fridge" not in only and "Covered fridge" not in only
    assert "1 device · calibration overdue" in only


# -- the calibration offset on the values shown, when the customer opts in ----------------------------


def test_values_shown_are_corrected_by_the_offset_in_force_only_when_opted_in(client, settings, tmp_path, db):
    settings.MEDIA_ROOT = tmp_path
    settings.OVERVIEW_CACHE_SECONDS = 0
    channel = fridge_channel()
    device = channel.device
    readings(channel, datetime(2026, 11, 17, tzinfo=UTC), 24 * 3)  # 5.0 °C every 10 minutes, 17th to 19th
    certificate(channel, date(2027, 11, 18), number="ABC-123", calibrated_on=date(2026, 11, 18), offset=0.3)
    certificate(channel, date(2027, 11, 19), number="ABC-124", calibrated_on=date(2026, 11, 19), offset=-0.2)
    stored = list(
        Reading.objects.filter(channel=channel).order_by("timestamp").values_list("value", flat=True)
    )
    login(client)
    url = f"/devices/{device.pk}/?range=custom&start=2026-11-17&end=2026-11-19"

    plain = client.get(url)
    assert set(figure_of(plain, "device-chart-data")["data"][0]["y"]) == {5.0}
    assert "corrected by" not in plain.content.decode()

    settings.CALIBRATION_OFFSETS_SHOWN = True
    answer = client.get(url)
    trace = figure_of(answer, "device-chart-data")["data"][0]
    by_day = {}
    for x, y in zip(trace["x"], trace["y"], strict=True):
        by_day.setdefault(x[:10], set()).add(y)
    assert by_day == {"2026-11-17": {5.0}, "2026-11-18": {5.3}, "2026-11-19": {4.8}}
    page = " ".join(answer.content.decode().split())
    assert (
        "Temperature (Measure) corrected by +0.30 °C, certificate ABC-123 (from 2026-11-18), then -0.20 °C, "
        "certificate ABC-124 (from 2026-11-19)." in page
    )
    assert "excursions are found on the stored readings" in page
    assert "<td>4.80 °C</td><td>5.00 °C</td><td>-0.20 °C, certificate ABC-124</td>" in page
    # Stored readings never change.
    assert (
        list(Reading.objects.filter(channel=channel).order_by("timestamp").values_list("value", flat=True))
        == stored
    )

    overview = client.get("/").content.decode()
    assert (
        '<strong>4.8 °C</strong> <small class="corrected" title="Corrected by -0.20 °C (certificate ABC-124)'
        in overview
    )
