"""The QA dashboard's pages through Django's test client: data made directly in the database."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import gpxpy
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring import figures
from monitoring.exports import READING_COLUMNS
from monitoring.ingest import NewReadings, update_rollups
from monitoring.models import (
    AlarmRule,
    Channel,
    DataGap,
    DeploymentGroup,
    Device,
    Excursion,
    Position,
    Reading,
    VendorAlert,
)
from tests.factories import PASSWORD, make_account, make_user


@pytest.fixture
def qa(client, db):
    user = make_user("qa")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def admin_client(client, db):
    client.force_login(make_user("boss", role="Admin"))
    return client


def make_device(account, name: str, *, kind: str = "fixed", humidity: bool = True, **fields) -> Device:
    device = Device.objects.create(
        account=account, vendor_id=name.lower().replace(" ", "-"), name=name, kind=kind, **fields
    )
    Channel.objects.create(device=device, name="temp", quantity="temperature", unit="C")
    if humidity:
        Channel.objects.create(device=device, name="humd", quantity="humidity", unit="%RH")
    return device


def fill_readings(channel, start: datetime, minutes: int, value=lambda i: 5.0, step: int = 1) -> None:
    rows = [
        Reading(channel=channel, timestamp=start + timedelta(minutes=i), value=value(i))
        for i in range(0, minutes, step)
    ]
    Reading.objects.bulk_create(rows, batch_size=5000)
    new = NewReadings()
    new.add(channel.pk, len(rows), rows[0].timestamp, rows[-1].timestamp)
    update_rollups(new)
    last = rows[-1]
    Channel.objects.filter(pk=channel.pk).update(last_reading_at=last.timestamp, last_value=last.value)


def figure_of(response, element_id: str) -> dict:
    html = response.content.decode()
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S)
    assert found, f"no {element_id} in the page"
    return json.loads(found.group(1))


# -- overview ---------------------------------------------------------------------------------------


def test_the_overview_shows_each_device_with_its_values_age_and_status_in_words(qa):
    account = make_account()
    fridge = make_device(account, "Vaccine fridge")
    AlarmRule.objects.create(name="2-8", device=fridge, low_limit=2, high_limit=8)
    now = timezone.now()
    Channel.objects.filter(device=fridge, name="temp").update(
        last_value=5.0, last_reading_at=now - timedelta(minutes=4)
    )
    Channel.objects.filter(device=fridge, name="humd").update(
        last_value=45.0, last_reading_at=now - timedelta(minutes=4)
    )
    broken = make_device(account, "Freezer B")
    Channel.objects.filter(device=broken, name="temp").update(last_error="E01", last_reading_at=now)
    make_device(account, "Silent room")
    html = qa.get("/").content.decode()
    assert "Vaccine fridge" in html and "5.0 °C" in html and "45.0 % RH" in html
    assert "4 min ago" in html
    assert ">In range<" in html and ">Sensor error<" in html and ">No data<" in html
    assert "Thermotrack" in html


def test_the_overview_marks_excursions_warnings_and_low_battery(qa):
    account = make_account()
    now = timezone.now()
    hot = make_device(account, "Hot fridge", humidity=False)
    near = make_device(account, "Near limit", humidity=False)
    flat = make_device(account, "Flat battery", humidity=False, battery=5)
    for device, value in ((hot, 12.0), (near, 7.9), (flat, 5.0)):
        AlarmRule.objects.create(name=f"rule {device.name}", device=device, low_limit=2, high_limit=8)
        Channel.objects.filter(device=device).update(last_value=value, last_reading_at=now)
    Excursion.objects.create(channel=hot.channels.get(), started_at=now - timedelta(hours=1), high_limit=8)
    html = qa.get("/").content.decode()
    assert ">Out of range<" in html and "1 open excursion" in html
    assert ">Near a limit<" in html
    assert ">Low battery<" in html


def tile_names_and_statuses(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<h2><a href="[^"]*">([^<]*)</a></h2><span class="status [a-z]+">([^<]*)</span>', html)


def test_the_overview_lists_the_most_urgent_devices_first_then_by_name(qa):
    account = make_account()
    now = timezone.now()
    fresh = {"last_value": 5.0, "last_reading_at": now}
    for name, value in (("Alpha fine", 5.0), ("Beta near", 7.9), ("Zulu hot", 12.0), ("Gamma hot", 11.0)):
        device = make_device(account, name, humidity=False)
        AlarmRule.objects.create(name=f"rule {name}", device=device, low_limit=2, high_limit=8)
        Channel.objects.filter(device=device).update(last_value=value, last_reading_at=now)
    broken = make_device(account, "Delta broken", humidity=False)
    Channel.objects.filter(device=broken).update(last_error="E01", **fresh)
    make_device(account, "Echo silent", humidity=False)
    flat = make_device(account, "Aardvark flat", humidity=False, battery=5)
    Channel.objects.filter(device=flat).update(**fresh)
    assert tile_names_and_statuses(qa.get("/").content.decode()) == [
        ("Gamma hot", "Out of range"),
        ("Zulu hot", "Out of range"),
        ("Delta broken", "Sensor error"),
        ("Echo silent", "No data"),
        ("Beta near", "Near a limit"),
        ("Aardvark flat", "Low battery"),
        ("Alpha fine", "In range"),
    ]


def test_a_device_with_an_excursion_not_closed_never_says_only_in_range(qa):
    now = timezone.now()
    fridge = make_device(make_account(), "Vaccine fridge", humidity=False)
    AlarmRule.objects.create(name="2-8", device=fridge, low_limit=2, high_limit=8)
    Channel.objects.filter(device=fridge).update(last_value=5.0, last_reading_at=now)
    for hours in range(1, 15):  # 14 excursions over, none acknowledged or closed
        started = now - timedelta(hours=hours * 3)
        Excursion.objects.create(
            channel=fridge.channels.get(),
            started_at=started,
            ended_at=started + timedelta(hours=1),
            high_limit=8,
        )
    html = qa.get("/").content.decode()
    assert tile_names_and_statuses(html) == [("Vaccine fridge", "Open excursion")]
    assert "14 open excursions" in html and 'class="status ok">In range' not in html
    # Ongoing silence of a rule's no-data limit: "No data", whatever the other channel says.
    Excursion.objects.create(
        channel=fridge.channels.get(), kind="no_data", started_at=now - timedelta(hours=1)
    )
    assert tile_names_and_statuses(qa.get("/").content.decode()) == [("Vaccine fridge", "No data")]


def test_the_summary_strip_counts_each_status_and_each_count_is_a_filter(qa):
    account = make_account()
    now = timezone.now()
    for n in range(3):
        device = make_device(account, f"Hot {n}", humidity=False)
        AlarmRule.objects.create(name=f"rule {n}", device=device, low_limit=2, high_limit=8)
        Channel.objects.filter(device=device).update(last_value=12.0, last_reading_at=now)
    make_device(account, "Silent", humidity=False)
    for n in range(2):
        ok = make_device(account, f"Fine {n}", humidity=False)
        Channel.objects.filter(device=ok).update(last_value=5.0, last_reading_at=now)
    html = qa.get("/").content.decode()
    strip = dict(
        (slug, int(count))
        for slug, count in re.findall(r'data-status="([a-z_]+)"><strong>(\d+)</strong>', html)
    )
    assert strip == {
        "out_of_range": 3,
        "sensor_error": 0,
        "no_data": 1,
        "warning": 0,
        "open_excursion": 0,
        "low_battery": 0,
        "in_range": 2,
    }
    assert "Out of range now" in html and 'href="?status=out_of_range"' in html
    hot = qa.get("/", {"status": "out_of_range"}).content.decode()
    assert [name for name, _ in tile_names_and_statuses(hot)] == ["Hot 0", "Hot 1", "Hot 2"]
    # The counts follow the other filters, not the status filter.
    assert "<strong>3</strong> Out of range now" in hot and "<strong>2</strong> In range" in hot


def test_1000_devices_come_in_pages_of_the_worst_first(qa):
    account = make_account()
    now = timezone.now()
    devices = Device.objects.bulk_create(
        [Device(account=account, vendor_id=f"d{i}", name=f"Device {i:04d}") for i in range(1000)]
    )
    Channel.objects.bulk_create(
        [
            Channel(
                device=d, name="temp", quantity="temperature", unit="C", last_value=5.0, last_reading_at=now
            )
            for d in devices
        ]
    )
    Channel.objects.filter(device__name="Device 0977").update(last_error="E01")
    # A rule among 1,000 devices' channels still finds its channel (rules read without a list of ids).
    hot = Device.objects.get(name="Device 0500")
    AlarmRule.objects.create(name="2-8", device=hot, low_limit=2, high_limit=8)
    Channel.objects.filter(device=hot).update(last_value=12.0)
    first = qa.get("/").content.decode()
    assert tile_names_and_statuses(first)[:3] == [
        ("Device 0500", "Out of range"),
        ("Device 0977", "Sensor error"),
        ("Device 0000", "In range"),
    ]
    assert len(tile_names_and_statuses(first)) == 60
    assert "1–60 of 1000 devices" in first and "Page 1 of 17" in first
    last = qa.get("/", {"page": "17"}).content.decode()
    assert [name for name, _ in tile_names_and_statuses(last)][-1] == "Device 0999"
    found = qa.get("/", {"q": "0977"}).content.decode()
    assert [name for name, _ in tile_names_and_statuses(found)] == ["Device 0977"]


def test_the_overview_filters_by_vendor_group_status_and_search(qa):
    thermo = make_account()
    thingsee = make_account(slug="thingsee", name="Things")
    cold = DeploymentGroup.objects.create(name="Cold room")
    make_device(thermo, "Alpha fridge", group=cold)
    make_device(thingsee, "Beta freezer")
    assert "Beta freezer" not in qa.get("/", {"vendor": "thermotrack"}).content.decode()
    assert "Alpha fridge" not in qa.get("/", {"group": "0"}).content.decode()
    only = qa.get("/", {"q": "beta"}).content.decode()
    assert "Beta freezer" in only and "Alpha fridge" not in only
    none = qa.get("/", {"status": "in_range"}).content.decode()
    assert "No device matches" in none
    assert qa.get("/", {"page": "0"}).status_code == 400


def test_the_overview_hides_retired_devices_unless_asked(qa):
    make_device(make_account(), "Old logger", installation_status="retired")
    assert "Old logger" not in qa.get("/").content.decode()
    assert "Old logger" in qa.get("/", {"retired": "on"}).content.decode()


def test_the_overview_refreshes_its_list_every_minute_through_htmx(qa):
    make_device(make_account(), "Alpha fridge")
    html = qa.get("/").content.decode()
    assert 'hx-trigger="every 60s"' in html
    fragment = qa.get("/", {"q": "alpha"}, headers={"HX-Request": "true"}).content.decode()
    assert "Alpha fridge" in fragment and "<html" not in fragment and 'id="device-list"' in fragment


def test_the_overview_makes_as_many_queries_for_1000_devices_as_for_10(qa):
    account = make_account()
    group = DeploymentGroup.objects.create(name="Everything")

    def add(count: int, offset: int) -> None:
        devices = Device.objects.bulk_create(
            [
                Device(account=account, vendor_id=f"d{offset + i}", name=f"Device {offset + i}", group=group)
                for i in range(count)
            ]
        )
        Channel.objects.bulk_create(
            [
                Channel(device=d, name="temp", quantity="temperature", unit="C", last_value=4.0)
                for d in devices
            ]
        )
        AlarmRule.objects.create(name=f"rule {offset}", device=devices[0], low_limit=2, high_limit=8)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert qa.get("/").status_code == 200
        return len(captured)

    add(10, 0)
    few = queries()
    add(990, 10)
    assert queries() == few
    assert 3 <= few <= 12


def test_the_device_list_is_cached_a_few_seconds_but_never_for_who_just_wrote(qa, settings):
    settings.OVERVIEW_CACHE_SECONDS = 60
    cache.clear()
    account = make_account()
    make_device(account, "Alpha fridge")
    assert "Alpha fridge" in qa.get("/").content.decode()
    make_device(account, "Beta freezer")
    assert "Beta freezer" not in qa.get("/").content.decode()  # the list of a moment ago
    assert "Beta freezer" in qa.get("/", {"q": "beta"}).content.decode()  # another query: its own list
    # After a write (a POST), a user pinned to the primary (the read replica's cookie) gets the list of now.
    qa.cookies[settings.MULTIDB_PINNING_COOKIE] = "y"
    assert "Beta freezer" in qa.get("/").content.decode()
    cache.clear()


def test_bad_overview_filters_get_a_message_and_a_400(qa):
    response = qa.get("/", {"status": "melted"})
    assert response.status_code == 400
    assert "Status" in response.content.decode()


# -- device detail ----------------------------------------------------------------------------------


@pytest.fixture
def fridge(db):
    account = make_account()
    device = make_device(account, "Vaccine fridge", battery=87, last_seen=timezone.now())
    AlarmRule.objects.create(name="2-8 °C", device=device, low_limit=2, high_limit=8)
    AlarmRule.objects.create(name="RH", device=device, quantity="humidity", low_limit=20, high_limit=70)
    return device


def test_the_device_page_draws_every_channel_with_limits_and_humidity_on_a_second_axis(qa, fridge):
    start = timezone.now() - timedelta(hours=6)
    temp, humd = fridge.channels.get(name="temp"), fridge.channels.get(name="humd")
    fill_readings(temp, start, 300, value=lambda i: 5 + (i % 7) / 10)
    fill_readings(humd, start, 300, value=lambda i: 40.0, step=5)
    response = qa.get(f"/devices/{fridge.pk}/")
    assert response.status_code == 200
    figure = figure_of(response, "device-chart-data")
    axes = {trace.get("yaxis", "y") for trace in figure["data"]}
    assert axes == {"y", "y2"}
    assert figure["layout"]["yaxis2"]["title"]["text"] == "Humidity (%RH)"
    limits = {s["y0"] for s in figure["layout"]["shapes"] if s["type"] == "line"}
    assert {2, 8, 20, 70} <= limits
    html = response.content.decode()
    assert "plotly/plotly.min.js" in html
    assert "Latest readings" in html and "87 %" in html and "Installed" in html


def test_the_latest_readings_are_the_newest_twenty_of_all_channels_newest_first(qa, fridge):
    """Across channels and months: each channel's newest by its key, then merged by time, ties by name."""
    now = timezone.now().replace(second=0, microsecond=0)
    temp, humd = fridge.channels.get(name="temp"), fridge.channels.get(name="humd")
    fill_readings(temp, now - timedelta(minutes=30), 30, value=lambda i: 5.0 + i / 100)  # every minute
    fill_readings(humd, now - timedelta(minutes=30), 30, value=lambda i: 40.0 + i, step=3)
    Reading.objects.create(channel=temp, timestamp=now - timedelta(days=40), value=9.9)  # an older month
    html = qa.get(f"/devices/{fridge.pk}/").content.decode()
    table = html[html.index('id="latest-title"') :]
    table = table[table.index("<tbody>") : table.index("</tbody>")]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td>\s*<td>(.*?)</td>", table)
    at = [now - timedelta(minutes=30 - i) for i in range(30)]
    humidity = [(at[i], "Humidity (humd)", f"{40.0 + i:.2f} % RH") for i in range(0, 30, 3)]
    temperature = [(at[i], "Temperature (temp)", f"{5.0 + i / 100:.2f} °C") for i in range(30)]
    expected = sorted(humidity + temperature, key=lambda row: (-row[0].timestamp(), row[1]))[:20]
    shown = [(channel, value) for _, channel, value in rows]
    assert shown == [(channel, value) for _, channel, value in expected]
    assert rows[0][0].startswith(timezone.localtime(now - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M"))


def test_a_channel_of_another_quantity_is_drawn_in_its_unit_and_no_temperature_rule_touches_it(qa, fridge):
    start = timezone.now() - timedelta(hours=6)
    volts = Channel.objects.create(
        device=fridge, name="ch3", label="Channel 3 (V)", quantity="other", unit="V"
    )
    fill_readings(fridge.channels.get(name="temp"), start, 300, value=lambda i: 5.0)
    fill_readings(volts, start, 300, value=lambda i: 1.5 + (i % 50) / 50, step=5)
    response = qa.get(f"/devices/{fridge.pk}/")
    assert response.status_code == 200
    figure = figure_of(response, "device-chart-data")
    trace = next(t for t in figure["data"] if t["name"] == "Channel 3 (V)")
    assert trace["yaxis"] == "y3" and "V" in trace["hovertemplate"]
    assert max(trace["y"]) == 2.4 and len(trace["y"]) == 60
    assert figure["layout"]["yaxis3"]["title"]["text"] == "V"
    assert figure["layout"]["yaxis3"]["overlaying"] == "y"
    assert figure["layout"]["yaxis"]["title"]["text"] == "Temperature (°C)"
    # The device's 2-8 °C rule draws its limits on the temperature axis only.
    assert {s["yref"] for s in figure["layout"]["shapes"] if s["type"] == "line"} == {"y", "y2"}
    html = response.content.decode()
    assert "Channel 3 (V): no alarm rule" in html
    assert "Temperature (temp): limits 2.0 to 8.0 °C" in html
    assert "2.40 V" in html  # in the latest readings
    rows = list(
        csv.DictReader(
            io.StringIO(b"".join(qa.get(f"/devices/{fridge.pk}/readings.csv").streaming_content).decode())
        )
    )
    assert {
        (r["channel"], r["channel_label"], r["quantity"], r["unit"]) for r in rows if r["channel"] == "ch3"
    } == {("ch3", "Channel 3 (V)", "other", "V")}
    overview = qa.get("/").content.decode()
    assert "Channel 3 (V)" in overview and "2.4 V" in overview


def test_a_device_of_another_quantity_only_draws_it_on_the_first_axis(qa):
    account = make_account()
    meter = Device.objects.create(
        account=account, vendor_id="52c3ab04", name="Power use", current_value_only=True
    )
    energy = Channel.objects.create(device=meter, name="ch1", quantity="other", unit="kWh")
    fill_readings(energy, timezone.now() - timedelta(hours=2), 60, value=lambda i: 1.4576)
    response = qa.get(f"/devices/{meter.pk}/")
    figure = figure_of(response, "device-chart-data")
    assert [(t["name"], t.get("yaxis", "y")) for t in figure["data"]] == [("ch1 (kWh)", "y")]
    assert figure["layout"]["yaxis"]["title"]["text"] == "kWh"
    html = response.content.decode()
    assert "current value only" in html and "1.46 kWh" in html


def test_a_gap_in_the_readings_is_a_hole_in_the_line_never_a_line_across_it(qa, fridge):
    temp = fridge.channels.get(name="temp")
    start = timezone.now() - timedelta(hours=10)
    fill_readings(temp, start, 120)
    fill_readings(temp, start + timedelta(hours=5), 120)
    DataGap.objects.create(
        device=fridge, start=start + timedelta(hours=2), end=start + timedelta(hours=5), reason="id jump"
    )
    figure = figure_of(qa.get(f"/devices/{fridge.pk}/"), "device-chart-data")
    line = next(t for t in figure["data"] if t["name"].startswith("Temperature"))
    assert line["connectgaps"] is False
    assert line["y"].count(None) == 1
    assert any(s.get("label", {}).get("text") == "No data" for s in figure["layout"]["shapes"])


def test_each_stretch_without_data_is_shaded_once_up_to_now_with_round_ticks(qa, fridge):
    temp, humd = fridge.channels.get(name="temp"), fridge.channels.get(name="humd")
    start = timezone.now() - timedelta(hours=20)
    fill_readings(temp, start, 120)
    fill_readings(temp, start + timedelta(hours=5), 600)  # then silent for the last 5 hours
    fill_readings(humd, start, 300, value=lambda i: 47.78 + (i % 9) / 4, step=5)
    # The vendor's gap and our no-data excursion cover the same hours: one shaded stretch, one label.
    DataGap.objects.create(
        device=fridge, start=start + timedelta(hours=2), end=start + timedelta(hours=5), reason="id jump"
    )
    Excursion.objects.create(
        channel=temp,
        kind="no_data",
        started_at=start + timedelta(hours=2, minutes=30),
        ended_at=start + timedelta(hours=5),
    )
    figure = figure_of(qa.get(f"/devices/{fridge.pk}/"), "device-chart-data")
    periods = [s for s in figure["layout"]["shapes"] if s.get("yref") == "paper"]
    labels = [s["label"]["text"] for s in periods]
    assert len(periods) == 2 and labels[0] == "No data"
    assert labels[1].startswith("No data since ")  # the open stretch from the last reading to now
    assert periods[1]["x1"] == figure["layout"]["xaxis"]["range"][1]
    humidity = figure["layout"]["yaxis2"]  # 47.78 to 49.78 %RH, limits 20 and 70: ticks 10 apart
    assert (humidity["dtick"], humidity["range"]) == (10, [10, 80])


def test_the_min_max_band_of_a_year_never_bridges_a_gap(qa, fridge):
    temp = fridge.channels.get(name="temp")
    start = timezone.now() - timedelta(days=200)
    fill_readings(temp, start, 60 * 1440, step=60)
    fill_readings(temp, start + timedelta(days=120), 60 * 1440, step=60)
    figure = figure_of(qa.get(f"/devices/{fridge.pk}/", {"range": "1y"}), "device-chart-data")
    band = next(t for t in figure["data"] if t["name"].endswith("min to max"))
    assert band["fill"] == "toself" and band["x"].count(None) == 1  # two outlines, apart


def test_sensor_errors_are_marked_and_excursions_shaded(qa, fridge):
    temp = fridge.channels.get(name="temp")
    start = timezone.now() - timedelta(hours=3)
    fill_readings(temp, start, 60)
    Reading.objects.create(channel=temp, timestamp=start + timedelta(minutes=90), error="E42")
    Excursion.objects.create(
        channel=temp, started_at=start + timedelta(minutes=10), ended_at=start + timedelta(minutes=20)
    )
    figure = figure_of(qa.get(f"/devices/{fridge.pk}/"), "device-chart-data")
    errors = next(t for t in figure["data"] if t["name"].startswith("Sensor error"))
    assert errors["text"] == ["E42"]
    assert any(s.get("label", {}).get("text") == "Excursion" for s in figure["layout"]["shapes"])


def test_a_year_is_drawn_from_buckets_of_minimum_and_maximum_so_no_peak_is_hidden(qa, fridge):
    temp = fridge.channels.get(name="temp")
    start = timezone.now() - timedelta(days=300)
    # One reading every 10 minutes for 300 days; one spike of 31 °C lasting a single reading.
    fill_readings(temp, start, 300 * 1440, value=lambda i: 31.0 if i == 150_000 else 5.0, step=10)
    response = qa.get(f"/devices/{fridge.pk}/", {"range": "1y"})
    assert response.status_code == 200
    assert len(response.content) < 200_000
    figure = figure_of(response, "device-chart-data")
    maximum = next(t for t in figure["data"] if t["name"] == "Temperature (temp): max per 9 h")
    assert max(v for v in maximum["y"] if v is not None) == 31.0
    assert len(maximum["x"]) <= 1100


def test_a_year_keeps_a_single_cold_reading_a_sensor_error_and_is_a_valid_plotly_figure(qa, fridge):
    import plotly.graph_objects as go

    temp = fridge.channels.get(name="temp")
    start = timezone.now() - timedelta(days=100)
    # A reading every 10 minutes for 100 days; one of them -12 °C, in the middle of a 9-hour bucket.
    fill_readings(temp, start, 100 * 1440, value=lambda i: -12.0 if i == 70_030 else 5.0, step=10)
    Reading.objects.create(channel=temp, timestamp=start + timedelta(days=40, minutes=5), error="E42")
    update_rollups(_new_readings(temp, start + timedelta(days=40, minutes=5)))
    response = qa.get(f"/devices/{fridge.pk}/", {"range": "1y"})
    figure = figure_of(response, "device-chart-data")
    minimum = next(t for t in figure["data"] if t["name"] == "Temperature (temp): min per 9 h")
    assert min(v for v in minimum["y"] if v is not None) == -12.0
    assert [v for v in minimum["y"] if v is not None].count(-12.0) == 1  # one bucket, not smeared
    errors = next(t for t in figure["data"] if t["name"].startswith("Sensor error"))
    assert errors["text"] == ["1 sensor error"]
    # The figure is built as plain dicts, unchecked at run time: Plotly's own schema checks it here.
    go.Figure(figure)


def _new_readings(channel, moment: datetime) -> NewReadings:
    new = NewReadings()
    new.add(channel.pk, 1, moment, moment)
    return new


def test_range_presets_swap_only_the_chart_through_htmx(qa, fridge):
    response = qa.get(f"/devices/{fridge.pk}/", {"range": "7d"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="chart"' in html and "<html" not in html and "Latest readings" not in html
    assert f'hx-get="/devices/{fridge.pk}/?range=30d"' in html


@pytest.mark.parametrize(
    "query, message",
    [
        ({"range": "custom", "start": "2026-02-01", "end": "2026-01-01"}, "before the start"),
        ({"range": "custom", "start": "2020-01-01", "end": "2026-01-01"}, "two years"),
        ({"range": "custom", "start": "yesterday", "end": "2026-01-01"}, "valid date"),
        ({"range": "forever"}, "valid choice"),
    ],
)
def test_a_bad_range_gets_a_clear_message_and_a_400(qa, fridge, query, message):
    response = qa.get(f"/devices/{fridge.pk}/", query)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert qa.get(f"/devices/{fridge.pk}/readings.csv", query).status_code == 400


def test_an_unknown_device_is_a_404(qa):
    assert qa.get("/devices/987654/").status_code == 404
    assert qa.get("/devices/987654/readings.csv").status_code == 404


def test_the_csv_export_holds_the_shown_range_in_the_export_columns(qa, fridge):
    temp = fridge.channels.get(name="temp")
    fill_readings(temp, datetime(2026, 3, 1, tzinfo=UTC), 3 * 1440, step=60)
    response = qa.get(
        f"/devices/{fridge.pk}/readings.csv", {"range": "custom", "start": "2026-03-02", "end": "2026-03-02"}
    )
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == READING_COLUMNS
    assert len(rows) == 1 + 24
    assert rows[1][7] == "2026-03-02T00:00:00Z"


def test_times_are_shown_in_the_users_zone_naming_it(qa, fridge):
    qa.post("/preferences/time-zone/", {"timezone": "Europe/Helsinki", "next": "/"})
    html = qa.get(f"/devices/{fridge.pk}/").content.decode()
    assert "Times in Europe/Helsinki" in html
    figure = figure_of(qa.get(f"/devices/{fridge.pk}/"), "device-chart-data")
    assert figure["layout"]["xaxis"]["title"]["text"] == "Time (Europe/Helsinki)"
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d EE[S]?T", html)


def test_a_qa_user_sees_no_installation_controls_and_is_refused(qa, fridge):
    html = qa.get(f"/devices/{fridge.pk}/").content.decode()
    assert "Change status" not in html
    assert qa.post(f"/devices/{fridge.pk}/installation/", {"status": "retired"}).status_code == 403
    fridge.refresh_from_db()
    assert fridge.installation_status == "installed"


def test_an_admin_changes_the_installation_status_and_the_history_shows_who_and_when(admin_client, fridge):
    response = admin_client.post(f"/devices/{fridge.pk}/installation/", {"status": "quarantine"})
    assert response.status_code == 302
    fridge.refresh_from_db()
    assert fridge.installation_status == "quarantine"
    html = admin_client.get(f"/devices/{fridge.pk}/").content.decode()
    assert "Quarantine" in html and "boss" in html


# -- alerts -----------------------------------------------------------------------------------------


@pytest.fixture
def alerts_data(db):
    account = make_account(slug="trackgps", name="Trucks")
    truck = make_device(account, "Truck 7", kind="vehicle", humidity=False)
    now = timezone.now()
    alert = VendorAlert.objects.create(
        account=account,
        device=truck,
        vendor_alert_id="a1",
        alert_type="Door open",
        started_at=now - timedelta(hours=2),
    )
    excursion = Excursion.objects.create(
        channel=truck.channels.get(),
        started_at=now - timedelta(hours=1),
        high_limit=8,
        peak_value=11.5,
        severity="warning",
    )
    return alert, excursion


def test_the_inbox_shows_excursions_and_vendor_events_apart_with_filters(qa, alerts_data):
    html = qa.get("/alerts/").content.decode()
    assert "Out of range" in html and "peak 11.5" in html and "Temperature (temp)" in html
    assert "Door open" not in html  # vendor events are on their own tab
    warnings = qa.get("/alerts/", {"severity": "warning"}).content.decode()
    assert "peak 11.5" in warnings
    assert "peak 11.5" not in qa.get("/alerts/", {"severity": "alarm"}).content.decode()
    assert "peak 11.5" not in qa.get("/alerts/", {"state": "closed"}).content.decode()
    vendor = qa.get("/alerts/", {"tab": "vendor"}).content.decode()
    assert "1 other event" in vendor and "vendor code Door open" in vendor and "peak 11.5" not in vendor
    assert "Door open" not in qa.get("/alerts/", {"tab": "vendor", "state": "acknowledged"}).content.decode()
    assert qa.get("/alerts/", {"start": "2026-02-01", "end": "2026-01-01"}).status_code == 400
    assert qa.get("/alerts/", {"device": "999999"}).status_code == 400
    assert qa.get("/alerts/", {"tab": "vendor", "kind": "nonsense"}).status_code == 400
    assert qa.get("/alerts/", {"tab": "elsewhere"}).status_code == 400


def test_a_vendor_alert_is_acknowledged_in_place_with_a_required_comment(qa, alerts_data):
    alert, _ = alerts_data
    url = f"/alerts/vendor/{alert.pk}/acknowledge/"
    refused = qa.post(url, {"comment": "  "}, headers={"HX-Request": "true"})
    assert refused.status_code == 400 and "required" in refused.content.decode()
    response = qa.post(url, {"comment": "Driver closed the door"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "Acknowledged by qa" in html and "Driver closed the door" in html
    alert.refresh_from_db()
    assert alert.acknowledged_by == qa.user


def test_an_excursion_is_acknowledged_with_a_comment_and_a_signature(qa, alerts_data):
    _, excursion = alerts_data
    url = f"/alerts/excursion/{excursion.pk}/acknowledge/"
    wrong = qa.post(
        url, {"comment": "Checked", "username": "qa", "password": "nope"}, headers={"HX-Request": "true"}
    )
    assert wrong.status_code == 400 and "password" in wrong.content.decode()
    ok = qa.post(
        url,
        {"comment": "Checked the load", "username": "qa", "password": PASSWORD},
        headers={"HX-Request": "true"},
    )
    assert ok.status_code == 200 and "Acknowledged by qa" in ok.content.decode()


def test_refused_signatures_in_place_end_with_the_lockout_page_in_the_whole_window(qa, alerts_data, settings):
    _, excursion = alerts_data
    url = f"/alerts/excursion/{excursion.pk}/acknowledge/"
    answers = [
        qa.post(
            url,
            {"comment": "Checked", "username": "qa", "password": f"guess {n}"},
            headers={"HX-Request": "true"},
        )
        for n in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert [a.status_code for a in answers] == [400] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    locked = answers[-1]
    assert "Too many failed logins" in locked.content.decode()
    assert (locked["HX-Retarget"], locked["HX-Reswap"]) == ("body", "innerHTML")  # not inside the row
    assert qa.get("/alerts/").status_code == 302  # logged out


def test_acknowledging_an_unknown_alert_is_a_404(qa):
    assert qa.post("/alerts/vendor/424242/acknowledge/", {"comment": "x"}).status_code == 404
    assert qa.post("/alerts/nonsense/1/acknowledge/", {"comment": "x"}).status_code == 404


# -- map --------------------------------------------------------------------------------------------


@pytest.fixture
def truck(db):
    account = make_account(slug="trackgps", name="Trucks")
    vehicle = make_device(account, "Truck 7", kind="vehicle", humidity=False, latitude=60.2, longitude=24.9)
    start = timezone.now() - timedelta(hours=5)
    fill_readings(vehicle.channels.get(), start, 300, value=lambda i: 4 + i / 100)
    Position.objects.bulk_create(
        Position(
            device=vehicle,
            timestamp=start + timedelta(minutes=i),
            latitude=60 + i / 1000,
            longitude=24 + i / 1000,
            speed_kmh=70,
        )
        for i in range(0, 300, 5)
    )
    VendorAlert.objects.create(
        account=account,
        device=vehicle,
        vendor_alert_id="x",
        alert_type="Harsh braking",
        started_at=start + timedelta(minutes=100),
        latitude=60.1,
        longitude=24.1,
        speed_kmh=88,
        address="Main street 1",
    )
    return vehicle


def test_the_map_draws_tracks_coloured_by_the_vehicles_limits_alerts_and_latest_positions(qa, truck):
    AlarmRule.objects.create(name="Truck 2-6", device=truck, low_limit=2, high_limit=6)
    response = qa.get("/map/")
    assert response.status_code == 200
    figure = figure_of(response, "vehicle-map-data")
    names = [t["name"] for t in figure["data"]]
    assert names == ["Truck 7", "In range", "Too warm", "Vendor alerts", "Latest position"]
    in_range, too_warm = figure["data"][1], figure["data"][2]
    # 4 + i/100 °C: inside 2-6 °C until minute 200, then too warm; one calm colour, one alarming one.
    assert len(in_range["lat"]) == 41 and len(too_warm["lat"]) == 19
    assert in_range["marker"]["color"] != too_warm["marker"]["color"]
    assert "limits 2 to 6 °C" in in_range["text"][0]
    assert "88 km/h" in figure["data"][3]["text"][0] and "Main street 1" in figure["data"][3]["text"][0]
    # The view takes in the track and the latest position (24.9 E, 60.2 N).
    assert figure["layout"]["meta"]["bounds"] == [24, 60, 24.9, pytest.approx(60.295)]
    tiles = json.loads(re.search(r'id="map-tiles"[^>]*>(.*?)</script>', response.content.decode()).group(1))
    # The test's tile server is a closed port: the page is told so, and draws its offline map.
    assert tiles == {"scheme": "http", "path": "127.0.0.1:9/{z}/{x}/{y}.png", "answers": False}


def test_a_freezer_truck_inside_its_limits_is_in_range_beside_a_warm_fridge_truck(qa, truck):
    AlarmRule.objects.create(name="Fridge", device=truck, low_limit=2, high_limit=3)
    freezer = make_device(truck.account, "Freezer 1", kind="vehicle", humidity=False)
    AlarmRule.objects.create(name="Freezer", device=freezer, low_limit=-25, high_limit=-15)
    start = timezone.now() - timedelta(hours=2)
    fill_readings(freezer.channels.get(), start, 60, value=lambda i: -16)
    Position.objects.bulk_create(
        Position(device=freezer, timestamp=start + timedelta(minutes=i), latitude=61, longitude=25 + i / 100)
        for i in range(0, 60, 10)
    )
    figure = figure_of(qa.get("/map/"), "vehicle-map-data")
    classes = {t["name"]: len(t["lat"]) for t in figure["data"] if t["mode"] == "markers"}
    assert classes["In range"] == 6  # the freezer at -16 °C
    assert classes["Too warm"] == 60  # the fridge truck at 4-7 °C


def test_a_truck_whose_positions_have_no_temperature_still_draws_in_grey(qa, truck):
    # Positions five hours before the first reading: no temperature is read near any of them.
    early = timezone.now() - timedelta(hours=12)
    Position.objects.bulk_create(
        Position(device=truck, timestamp=early + timedelta(minutes=i), latitude=59, longitude=23 + i / 100)
        for i in range(5)
    )
    response = qa.get("/map/", {"vehicle": truck.pk, "range": "24h"})
    assert response.status_code == 200
    figure = figure_of(response, "vehicle-map-data")
    grey = next(t for t in figure["data"] if t["name"] == "No temperature")
    assert grey["marker"]["color"] == figures.NO_TEMPERATURE and len(grey["lat"]) == 5
    assert len(next(t for t in figure["data"] if t["name"] == "No limits set")["lat"]) == 60


def test_the_gpx_export_is_valid_gpx_1_1(qa, truck):
    response = qa.get(f"/map/{truck.pk}/track.gpx", {"range": "24h"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/gpx+xml")
    gpx = gpxpy.parse(response.content.decode())
    assert gpx.version == "1.1"
    points = gpx.tracks[0].segments[0].points
    assert len(points) == 60 and points[0].time is not None


def test_an_unknown_vehicle_is_a_404(qa, truck):
    assert qa.get("/map/", {"vehicle": "999999"}).status_code == 404
    assert qa.get("/map/999999/track.gpx").status_code == 404


# -- groups -----------------------------------------------------------------------------------------


def test_a_qa_user_sees_groups_but_no_controls_and_is_refused_changes(qa):
    DeploymentGroup.objects.create(name="Cold room")
    html = qa.get("/groups/").content.decode()
    assert "Cold room" in html and "Create group" not in html and "Move devices" not in html
    assert qa.post("/groups/new/", {"name": "Mine"}).status_code == 403
    assert not DeploymentGroup.objects.filter(name="Mine").exists()


def test_an_admin_creates_renames_moves_into_and_deletes_a_local_group(admin_client):
    a, b = make_device(make_account(), "Alpha"), make_device(make_account(name="second"), "Beta")
    assert admin_client.post("/groups/new/", {"name": "Cold room"}).status_code == 302
    group = DeploymentGroup.objects.get(name="Cold room")
    admin_client.post(f"/groups/{group.pk}/rename/", {"name": "Freezers"})
    group.refresh_from_db()
    assert group.name == "Freezers"
    admin_client.post("/groups/move/", {"devices": [a.pk, b.pk], "group": group.pk})
    assert set(group.devices.values_list("name", flat=True)) == {"Alpha", "Beta"}
    admin_client.post(f"/groups/{group.pk}/delete/", {})
    assert not DeploymentGroup.objects.exists()
    a.refresh_from_db()
    assert a.group is None


def test_a_refused_move_is_shown_to_the_user(admin_client):
    thingsee = make_account(slug="thingsee", name="Things")
    sensor = make_device(thingsee, "Thing 1")
    local = DeploymentGroup.objects.create(name="Ours")
    response = admin_client.post("/groups/move/", {"devices": [sensor.pk], "group": local.pk}, follow=True)
    assert "Not moved" in response.content.decode()
    sensor.refresh_from_db()
    assert sensor.group is None


def test_moving_no_devices_gets_a_message_and_a_400(admin_client):
    response = admin_client.post("/groups/move/", {"group": ""})
    assert response.status_code == 400


# -- sync status ------------------------------------------------------------------------------------


def test_the_sync_page_shows_health_last_success_and_readings_of_the_last_24_hours(qa):
    account = make_account(name="Fridge room", last_success_at=timezone.now() - timedelta(minutes=3))
    device = make_device(account, "Alpha")
    fill_readings(device.channels.get(name="temp"), timezone.now() - timedelta(hours=3), 120)
    html = qa.get("/sync/").content.decode()
    assert "Fridge room" in html and ">ok<" in html and "3 min ago" in html
    assert "<td>120</td>" in html
    assert "Sync now" in html


def test_sync_now_starts_the_task_and_polls_until_done(qa, monkeypatch):
    account = make_account(name="Fridge room")
    started = []
    monkeypatch.setattr("monitoring.views.sync.sync_account.delay", lambda pk: started.append(pk))
    response = qa.post(f"/sync/{account.pk}/run/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert started == [account.pk]
    assert response.status_code == 200 and "Queued" in html and 'hx-trigger="every 2s"' in html
    since = re.search(r"since=([^\"&]+)", html).group(1)
    from urllib.parse import unquote

    requested = datetime.fromisoformat(unquote(since))
    account.last_sync_started_at = requested + timedelta(seconds=1)
    account.sync_lock_until = timezone.now() + timedelta(minutes=1)
    account.save()
    assert (
        "Running"
        in qa.get(f"/sync/{account.pk}/progress/", {"since": requested.isoformat()}).content.decode()
    )
    account.sync_lock_until = None
    account.last_success_at = requested + timedelta(seconds=5)
    account.save()
    done = qa.get(f"/sync/{account.pk}/progress/", {"since": requested.isoformat()})
    assert done.status_code == 286 and "Done" in done.content.decode()
    assert qa.get(f"/sync/{account.pk}/progress/", {"since": "garbage"}).status_code == 400


def test_without_javascript_an_acknowledgement_returns_to_the_list_with_a_message(qa, alerts_data):
    alert, _ = alerts_data
    response = qa.post(f"/alerts/vendor/{alert.pk}/acknowledge/", {"comment": "Seen"}, follow=True)
    assert response.status_code == 200 and "Acknowledged." in response.content.decode()
    assert qa.post(f"/alerts/vendor/{alert.pk}/acknowledge/", {"comment": "Again"}).status_code == 400


def test_the_devices_page_lists_every_device_with_its_installation_status_and_filters_by_it(qa):
    account = make_account()
    make_device(account, "Old logger", installation_status="retired")
    make_device(account, "New logger", installation_status="new")
    html = qa.get("/devices/").content.decode()
    assert "Old logger" in html and "Retired" in html and "New logger" in html
    only = qa.get("/devices/", {"status": "retired"}).content.decode()
    assert "Old logger" in only and "New logger" not in only
    assert qa.get("/devices/", {"status": "lost"}).status_code == 400
    new = Device.objects.get(name="New logger")
    assert f'<td><a href="/devices/{new.pk}/">New logger</a></td>' in html
    assert f"<td>{account.get_vendor_display()}</td>" in html and "2 devices." in html
    # The search box: a name, a vendor id or a site, any case, with the status filter or not.
    found = qa.get("/devices/", {"q": "new LOG"}).content.decode()
    assert "New logger" in found and "Old logger" not in found and "1 device matches the filters" in found
    assert 'value="new LOG"' in found
    assert "New logger" in qa.get("/devices/", {"q": new.vendor_id}).content.decode()
    none = qa.get("/devices/", {"q": "logger", "status": "installed"}).content.decode()
    assert "No device matches the filters" in none and "Old logger" not in none


def test_the_device_lists_never_read_an_accounts_credentials(qa, admin_client):
    """The Devices and Groups pages name each device's vendor: from the account's row, without its
    encrypted credentials and session (one decryption a device, 1,000 a page)."""
    from django.test.utils import CaptureQueriesContext

    account = make_account()
    make_device(account, "Old logger")
    for client, url in ((qa, "/devices/"), (admin_client, "/groups/")):  # moving devices: an Admin's
        with CaptureQueriesContext(connection) as captured:
            html = client.get(url).content.decode()
        assert account.get_vendor_display() in html and "Old logger" in html
        device_queries = [q["sql"] for q in captured if 'FROM "monitoring_device"' in q["sql"]]
        assert device_queries and not any('"credentials"' in q or '"session"' in q for q in device_queries)


def test_thingsee_group_changes_go_to_the_vendor_and_its_refusal_is_shown(admin_client, world, serve):
    from vendors.simulators import simulator_class
    from vendors.sync import sync_account

    simulator = simulator_class("thingsee")(world=world)
    account = make_account(serve(simulator), "thingsee")
    sync_account(
        account, since=datetime(2026, 11, 20, 6, tzinfo=UTC), until=datetime(2026, 11, 20, 12, tzinfo=UTC)
    )
    sensor = Device.objects.filter(account=account).first()
    response = admin_client.post("/groups/new/", {"name": "cold-room-2", "account": account.pk}, follow=True)
    assert "created" in response.content.decode()
    group = DeploymentGroup.objects.get(account=account, name="cold-room-2")
    admin_client.post("/groups/move/", {"devices": [sensor.pk], "group": group.pk})
    sensor.refresh_from_db()
    assert sensor.group == group
    # A group we believe in but the vendor does not know: the vendor refuses, and the page says so.
    ghost = DeploymentGroup.objects.create(account=account, name="ghost", vendor_group_id="ghost")
    response = admin_client.post("/groups/move/", {"devices": [sensor.pk], "group": ghost.pk}, follow=True)
    assert "Not moved" in response.content.decode()
    sensor.refresh_from_db()
    assert sensor.group == group
    # The installation status of a Thingsee device changes at the vendor first, then here.
    admin_client.post(f"/devices/{sensor.pk}/installation/", {"status": "quarantine"})
    sensor.refresh_from_db()
    assert sensor.installation_status == "quarantine"
    assert sensor.installation_events.filter(status="quarantine", user__username="boss").exists()


def test_a_zoom_fetches_the_readings_of_exactly_the_zoomed_span(qa, fridge):
    temp = fridge.channels.get(name="temp")
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(days=20)
    fill_readings(temp, start, 20 * 1440, step=10)
    zoom_from = (start + timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-2]
    zoom_to = (start + timedelta(days=4)).strftime("%Y-%m-%d %H:%M:%S")
    response = qa.get(
        f"/devices/{fridge.pk}/",
        {"range": "zoom", "zoom_from": zoom_from, "zoom_to": zoom_to},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "Zoomed in" in response.content.decode()
    line = next(
        t for t in figure_of(response, "device-chart-data")["data"] if t["name"] == "Temperature (temp)"
    )
    assert len(line["x"]) == 24 * 6 + 1  # every reading, no buckets
    reversed_zoom = {"range": "zoom", "zoom_from": zoom_to, "zoom_to": zoom_from}
    assert qa.get(f"/devices/{fridge.pk}/", reversed_zoom).status_code == 400


def test_a_group_for_an_unknown_account_gets_a_message_and_a_400(admin_client):
    response = admin_client.post("/groups/new/", {"name": "Cold room", "account": "424242"})
    assert response.status_code == 400 and "valid choice" in response.content.decode()
    assert not DeploymentGroup.objects.exists()


def test_a_device_without_a_vendor_last_seen_is_last_seen_at_its_newest_reading_everywhere(qa):
    # Thermotrack reports no "last seen": the newest reading says it, on the list and the device page.
    fridge = make_device(make_account(), "Thermotrack fridge", humidity=False)
    assert fridge.last_seen is None
    fill_readings(fridge.channels.get(), timezone.now() - timedelta(minutes=30), 28)
    newest = timezone.localtime(fridge.channels.get().last_reading_at).strftime("%Y-%m-%d %H:%M")
    listed = qa.get("/devices/").content.decode()
    page = qa.get(f"/devices/{fridge.pk}/").content.decode()
    assert newest in listed and newest in page and "3 min ago" in page
