"""The Thermotrack Webserve simulator answers as thermotrack-webserve.txt and docs/vendors.md say."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from werkzeug.test import Client

from vendors.simulators import SimulatorServer, World
from vendors.simulators.thermotrack import SENSOR_ERROR_VALUE, ThermotrackSimulator

from .conftest import FIXED_NOW

PARIS = ZoneInfo("Europe/Paris")
POST = "/API/post_api.php"
GET = "/API/get_api.php"


@pytest.fixture(scope="module")
def shared():
    """One simulator and server for the module: stopping a server takes half a second (its poll)."""
    simulator = ThermotrackSimulator(world=World(seed=7, clock=lambda: FIXED_NOW.timestamp()))
    server = SimulatorServer([simulator]).start()
    yield simulator, server.base_url("thermotrack")
    server.stop()


@pytest.fixture
def simulator(shared):
    simulator = shared[0]
    simulator.faults.reset()
    yield simulator
    simulator.faults.reset()


@pytest.fixture
def base(shared, simulator):
    return shared[1]


@pytest.fixture
def key(simulator):
    return simulator.credentials["api_key"]


def post(base, **form):
    return requests.post(base + POST, data=form, timeout=10)


def data(base, key, fmt="json", method="equip_data_schedule", **params):
    return post(base, method=method, api_key=key, format=fmt, **params)


def wall(t: datetime) -> str:
    return t.astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S")


# -- equip_list ------------------------------------------------------------------------------------


def test_it_lists_equipment_in_json_over_post(base, key, simulator):
    response = post(base, method="equip_list", api_key=key, format="json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["equipments"]
    assert body["equipments"][0] == {"IDEquipment": 6128, "EquipmentName": "Vaccine fridge - Pharmacy"}
    assert [str(e["IDEquipment"]) for e in body["equipments"]] == [d.vendor_id for d in simulator.devices]


def test_it_lists_equipment_in_xml_over_get(base, key, simulator):
    response = requests.get(
        base + GET, params={"method": "equip_list", "api_key": key, "format": "xml"}, timeout=10
    )
    assert response.status_code == 200
    assert "xml" in response.headers["Content-Type"]
    root = ET.fromstring(response.content)
    assert root.tag == "Detail-Response"
    equipments = root.findall("data/Equipment")
    assert [e.findtext("IDEquipment") for e in equipments] == [d.vendor_id for d in simulator.devices]
    assert equipments[-1].findtext("EquipmentName") == "Reefer truck FR-482-TK"


def test_its_devices_cover_the_traits_of_the_section(simulator):
    by_id = {d.vendor_id: d for d in simulator.devices}
    assert set(by_id) == {"6128", "6129", "6130", "6131", "6132", "9409"}
    assert "compressor_failure" in by_id["6128"].traits
    assert "door_openings" in by_id["6129"].traits
    assert "sensor_errors" in by_id["6130"].traits
    assert [c.name for c in by_id["6131"].channels] == ["Measure", "MeasureHum"]
    assert by_id["6132"].interval == 60
    truck = by_id["9409"]
    assert truck.kind == "vehicle" and truck.route == ("Lyon", "Paris", "Lille")
    assert [c.name for c in truck.channels] == ["Measure", "MeasureHum"]
    assert all(300 <= d.interval <= 900 for d in simulator.devices if d.vendor_id != "6132")


# -- data methods ----------------------------------------------------------------------------------


def test_a_date_only_query_covers_whole_local_days_with_date_end_inclusive(base, key, simulator):
    body = data(
        base, key, method="equip_data", equip_id="6128", date_start="2026-11-10", date_end="2026-11-11"
    ).json()
    assert body["TotalRecord"] == 2 * 144  # every 10 minutes, two days
    first, last = body["records"][0], body["records"][-1]
    assert first["DateTime"].startswith("2026-11-10 00:0")
    assert last["DateTime"].startswith("2026-11-11 23:5")
    assert set(first) == {"DateTime", "Measure", "MeasureHum"}


def test_days_when_the_clocks_change_have_23_and_25_hours(base, key):
    def day(d):
        return data(base, key, method="equip_data", equip_id="6128", date_start=d, date_end=d).json()[
            "TotalRecord"
        ]

    assert day("2026-03-29") == 138
    assert day("2026-10-25") == 150
    assert day("2026-10-26") == 144


def test_date_times_are_local_wall_clock_without_zone(base, key, simulator):
    body = data(
        base, key, equip_id="6131", date_start="2026-07-01_00:00:00", date_end="2026-07-01_01:00:00"
    ).json()
    truth = simulator.truth_readings(
        "6131", datetime(2026, 6, 30, 22, tzinfo=UTC), datetime(2026, 6, 30, 23, tzinfo=UTC)
    )
    temperatures = [r for r in truth if r.channel == "Measure"]
    humidity = [r for r in truth if r.channel == "MeasureHum"]
    assert [r["DateTime"] for r in body["records"]] == [wall(r.timestamp) for r in temperatures]
    assert [float(r["Measure"]) for r in body["records"]] == [r.value for r in temperatures]
    assert [float(r["MeasureHum"]) for r in body["records"]] == [r.value for r in humidity]


def test_a_schedule_query_takes_underscored_bounds_inclusive(base, key, simulator):
    body = data(
        base, key, equip_id="6132", date_start="2026-11-18_10:00:00", date_end="2026-11-18_10:10:00"
    ).json()
    second = simulator.world.offset(
        simulator.device("6132")
    )  # the logger ticks at this second of each minute
    assert body["TotalRecord"] == len(body["records"]) == (11 if second == 0 else 10)
    first = body["records"][0]["DateTime"]
    assert first == f"2026-11-18 10:00:{second:02d}"
    exact = first.replace(" ", "_")
    assert data(base, key, equip_id="6132", date_start=exact, date_end=exact).json()["TotalRecord"] == 1


def test_it_silently_returns_the_oldest_1000_records_with_the_true_total(base, key, simulator):
    body = data(
        base, key, method="equip_data", equip_id="6132", date_start="2026-11-10", date_end="2026-11-16"
    ).json()
    assert body["TotalRecord"] == 7 * 1440
    assert len(body["records"]) == 1000
    truth = simulator.truth_readings(
        "6132", datetime(2026, 11, 9, 23, tzinfo=UTC), datetime(2026, 11, 17, tzinfo=UTC)
    )
    assert [r["DateTime"] for r in body["records"]] == [wall(r.timestamp) for r in truth[:1000]]


def test_measure_hum_is_null_without_a_humidity_probe(base, key):
    body = data(
        base, key, equip_id="6128", date_start="2026-11-18_10:00:00", date_end="2026-11-18_11:00:00"
    ).json()
    assert body["records"] and all(r["MeasureHum"] is None for r in body["records"])
    xml = data(
        base, key, "xml", equip_id="6128", date_start="2026-11-18_10:00:00", date_end="2026-11-18_11:00:00"
    )
    records = ET.fromstring(xml.content).findall("data/Record")
    assert records and all(r.find("MeasureHum") is not None and not r.findtext("MeasureHum") for r in records)


def test_data_in_xml_has_total_record_beside_data_records(base, key):
    response = data(
        base, key, "xml", equip_id="6131", date_start="2026-11-18_10:00:00", date_end="2026-11-18_12:00:00"
    )
    root = ET.fromstring(response.content)
    assert root.tag == "Detail-Response"
    assert root.findtext("TotalRecord") == "12"
    records = root.findall("data/Record")
    assert len(records) == 12
    assert [child.tag for child in records[0]] == ["DateTime", "Measure", "MeasureHum"]
    assert float(records[0].findtext("MeasureHum")) > 0


def test_localization_gives_vehicle_coordinates_and_empty_ones_for_fixed_equipment(base, key, simulator):
    start, end = datetime(2026, 11, 18, 9, tzinfo=UTC), datetime(2026, 11, 18, 11, tzinfo=UTC)
    body = data(
        base,
        key,
        method="equip_data_schedule_with_localization",
        equip_id="9409",
        date_start="2026-11-18_10:00:00",
        date_end="2026-11-18_12:00:00",
    ).json()
    positions = simulator.truth_positions("9409", start, end)
    assert [(float(r["Latitude"]), float(r["Longitude"])) for r in body["records"]] == [
        (p.latitude, p.longitude) for p in positions
    ]
    assert all(p.speed_kmh is None for p in positions)  # Thermotrack has no speed
    fixed = data(
        base,
        key,
        "xml",
        method="equip_data_with_localization",
        equip_id="6128",
        date_start="2026-11-18",
        date_end="2026-11-18",
    )
    record = ET.fromstring(fixed.content).find("data/Record")
    assert record.findtext("Longitude") == "" and record.findtext("Latitude") == ""


def test_a_failed_sensor_reads_the_vendor_error_text(base, key, simulator):
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC)
    errors = [r for r in simulator.truth_readings("6130", start, end) if r.value is None]
    assert errors and all(r.error == SENSOR_ERROR_VALUE for r in errors)
    moment = errors[0].timestamp.astimezone(PARIS).strftime("%Y-%m-%d_%H:%M:%S")
    body = data(base, key, equip_id="6130", date_start=moment, date_end=moment).json()
    assert body["records"][0]["Measure"] == SENSOR_ERROR_VALUE


def test_the_repeated_hour_shows_the_same_wall_clock_twice_in_utc_order(base, key, simulator):
    body = data(
        base, key, equip_id="6128", date_start="2026-10-25_02:00:00", date_end="2026-10-25_02:59:59"
    ).json()
    assert body["TotalRecord"] == 12
    truth = simulator.truth_readings(
        "6128", datetime(2026, 10, 25, 0, tzinfo=UTC), datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC)
    ) + simulator.truth_readings(
        "6128", datetime(2026, 10, 25, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, 59, 59, tzinfo=UTC)
    )
    times = [r["DateTime"] for r in body["records"]]
    assert times == [wall(r.timestamp) for r in truth]
    assert times[:6] == times[6:]
    assert [float(r["Measure"]) for r in body["records"]] == [r.value for r in truth]


def test_data_grows_with_the_world_clock(serve):
    now = [FIXED_NOW.timestamp()]
    simulator = ThermotrackSimulator(world=World(seed=7, clock=lambda: now[0]))
    base = serve(simulator).base_url("thermotrack")
    key = simulator.credentials["api_key"]

    def total():
        return data(
            base, key, equip_id="6129", date_start="2026-11-20_00:00:00", date_end="2026-11-21_00:00:00"
        ).json()["TotalRecord"]

    before = total()
    now[0] += 3600
    assert total() == before + 12


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_missing_or_wrong_key_gets_401_in_the_requested_format(base, key, fmt):
    for api_key in ("", key + "x"):
        response = post(base, method="equip_list", api_key=api_key, format=fmt)
        assert response.status_code == 401
        if fmt == "xml":
            root = ET.fromstring(response.content)
            assert root.tag == "Detail-Response" and "API key" in root.findtext("error")
        else:
            assert "API key" in response.json()["error"]


@pytest.mark.parametrize(
    "params, words",
    [
        ({"method": ""}, "method"),
        ({"method": "equip_delete"}, "Unknown method"),
        ({"format": "csv"}, "format"),
        ({"equip_id": ""}, "equip_id"),
        ({"equip_id": "61x8"}, "equip_id"),
        ({"equip_id": "1"}, "Unknown equip_id"),
        ({"date_start": "2026-11-18 10:00:00"}, "date_start"),
        ({"date_end": ""}, "date_end"),
        ({"method": "equip_data", "date_start": "2026-11-18_10:00:00"}, "date_start"),
        ({"date_start": "2026-11-19_10:00:00"}, "after"),
        ({"date_start": "2026-02-30_10:00:00"}, "date_start"),
    ],
)
def test_a_missing_or_malformed_parameter_gets_400(base, key, params, words):
    form = {
        "method": "equip_data_schedule",
        "api_key": key,
        "format": "json",
        "equip_id": "6128",
        "date_start": "2026-11-18_00:00:00",
        "date_end": "2026-11-18_12:00:00",
    }
    form.update(params)
    response = post(base, **form)
    assert response.status_code == 400
    assert words in response.json()["error"]


def test_a_400_in_xml_is_a_detail_response_error(base, key):
    response = data(
        base, key, "xml", equip_id="424242", date_start="2026-11-18_00:00:00", date_end="2026-11-18_01:00:00"
    )
    assert response.status_code == 400
    assert ET.fromstring(response.content).findtext("error") == "Unknown equip_id: 424242"


def test_the_post_endpoint_does_not_read_the_query_string(base, key):
    response = requests.post(
        base + POST, params={"method": "equip_list", "api_key": key, "format": "json"}, timeout=10
    )
    assert response.status_code == 401


def test_an_unknown_path_is_404(base, key):
    assert requests.get(base + "/API/other.php", timeout=10).status_code == 404


# -- determinism and credentials -------------------------------------------------------------------


def test_two_simulators_with_the_same_seed_serve_the_same_data(world):
    a, b = ThermotrackSimulator(world=world), ThermotrackSimulator(world=World(seed=7, clock=world.clock))
    other = ThermotrackSimulator(world=World(seed=8, clock=world.clock))
    assert a.credentials == b.credentials != other.credentials
    assert len(a.credentials["api_key"]) >= 12
    bodies = []
    for sim in (a, b, other):
        # Straight through WSGI: three servers would cost a second and a half to stop.
        response = Client(sim).post(
            POST,
            data={
                "method": "equip_data_schedule_with_localization",
                "api_key": sim.credentials["api_key"],
                "format": "json",
                "equip_id": "9409",
                "date_start": "2026-11-18_00:00:00",
                "date_end": "2026-11-18_06:00:00",
            },
        )
        assert response.status_code == 200
        bodies.append(response.get_data())
    assert bodies[0] == bodies[1] != bodies[2]


# -- faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_error_rate_gives_500_or_503_in_the_vendor_shape(base, key, simulator, fmt):
    simulator.faults.update(error_rate=1)
    statuses = set()
    for _ in range(8):
        response = post(base, method="equip_list", api_key=key, format=fmt)
        statuses.add(response.status_code)
        if fmt == "xml":
            assert ET.fromstring(response.content).findtext("error") == "Internal Server Error"
        else:
            assert response.json() == {"error": "Internal Server Error"}
    assert statuses <= {500, 503} and statuses


def test_burst_429_refuses_the_next_requests_then_answers(base, key, simulator):
    simulator.faults.update(burst_429=2)
    assert [post(base, method="equip_list", api_key=key, format="json").status_code for _ in range(3)] == [
        429,
        429,
        200,
    ]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_malformed_and_truncated_answers_cannot_be_read(base, key, simulator, fmt):
    good = post(base, method="equip_list", api_key=key, format=fmt).content
    for fault in ("malformed_rate", "truncated_rate"):
        simulator.faults.reset()
        simulator.faults.update(**{fault: 1})
        body = post(base, method="equip_list", api_key=key, format=fmt).content
        assert body != good
        with pytest.raises((ValueError, ET.ParseError)):
            json.loads(body) if fmt == "json" else ET.fromstring(body)


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_refused_credentials_get_401_until_cleared(base, key, simulator, state):
    simulator.faults.update(credentials=state)
    assert post(base, method="equip_list", api_key=key, format="json").status_code == 401
    simulator.faults.update(credentials="valid")
    assert post(base, method="equip_list", api_key=key, format="json").status_code == 200


def test_a_hanging_request_answers_late_with_504(base, key, simulator):
    simulator.faults.update(hang_rate=1, hang_seconds=0.3)
    started = time.monotonic()
    response = post(base, method="equip_list", api_key=key, format="json")
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 504


def test_the_truth_of_a_day_matches_a_date_only_query(simulator):
    day = date(2026, 10, 25)
    start = datetime(2026, 10, 24, 22, tzinfo=UTC)  # local midnight, summer time
    end = datetime(2026, 10, 25, 23, tzinfo=UTC) - timedelta(seconds=1)  # local 23:59:59, winter time
    truth = [r for r in simulator.truth_readings("6131", start, end) if r.channel == "Measure"]
    assert simulator.day_count("6131", day) == len(truth) == 150
