"""The Trackunit Classic simulator answers as the documents (and docs/vendors.md) say."""

from __future__ import annotations

import json
import math
import re
import time
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
import requests

from tests.conftest import FIXED_NOW
from vendors.simulators import Faults, SimulatorServer, World
from vendors.simulators.trackunit import (
    ALARM_RULES,
    SENSOR_ERROR_VALUE,
    TrackunitSimulator,
    parse_time,
)
from vendors.simulators.world import COMPRESSOR_FAILURE, GOES_SILENT, LOW_BATTERY, SENSOR_ERRORS

TIME_FORMAT = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$"


def fmt(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@pytest.fixture(scope="module")
def shared():
    """One simulator for the read-only tests (its row cache makes long periods cheap)."""
    sim = TrackunitSimulator(World(seed=7, clock=lambda: FIXED_NOW.timestamp()), rate_limit=10_000)
    server = SimulatorServer([sim]).start()
    yield sim, server.base_url("trackunit")
    server.stop()


@pytest.fixture
def sim(shared):
    return shared[0]


@pytest.fixture
def base(shared):
    return shared[1]


def get(base, sim, path, **kwargs):
    kwargs.setdefault("auth", ("API", sim.token))
    return requests.get(f"{base}{path}", timeout=10, **kwargs)


def day_window(days=1):
    return {"from": fmt(FIXED_NOW - timedelta(days=days)), "to": fmt(FIXED_NOW)}


# -- units and authentication -------------------------------------------------------------------


def test_it_lists_units_in_the_documented_envelope(sim, base):
    response = get(base, sim, "/Unit")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["responseStatus"] is None
    units = {u["id"]: u for u in body["list"]}
    assert set(units) == {"34333", "39670", "46208", "46209"}  # [C] ids are strings
    for unit in units.values():
        assert {
            "id",
            "serialNumber",
            "name",
            "location",
            "temperature1",
            "temperature2",
            "batteryLevel",
            "gpsFixTime",
        } <= set(unit)
        assert set(unit["location"]) == {"latitude", "longitude"}
        assert re.match(TIME_FORMAT, unit["gpsFixTime"])
        assert parse_time(unit["gpsFixTime"]) <= FIXED_NOW
    assert units["46208"]["temperature2"] is None  # the van has one probe
    assert units["46208"]["batteryLevel"] == 7.0  # and a nearly flat battery
    assert isinstance(units["34333"]["temperature2"], float)


def test_it_answers_one_unit_by_id_and_refuses_an_unknown_one(sim, base):
    assert get(base, sim, "/Unit/34333").json()["list"][0]["id"] == "34333"
    response = get(base, sim, "/Unit/999")
    assert response.status_code == 404
    status = response.json()["responseStatus"]
    assert response.json()["list"] is None
    assert status["errorCode"] == "unitNotFound"


def test_it_accepts_the_token_in_the_url_as_the_documents_allow(sim, base):
    response = requests.get(f"{base}/Unit", params={"token": sim.token}, timeout=10)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "auth",
    [None, ("API", "wrong-token-123456"), ("api-user", "TOKEN")],
    ids=["no token", "wrong token", "wrong user name"],
)
def test_it_refuses_a_missing_or_wrong_token_with_401_in_the_envelope(sim, base, auth):
    if auth and auth[1] == "TOKEN":
        auth = (auth[0], sim.token)
    response = requests.get(f"{base}/Unit", auth=auth, timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    body = response.json()
    assert body["list"] is None
    assert body["responseStatus"]["errorCode"] == "Unauthorized"
    assert sim.token not in response.text


def test_it_refuses_other_methods(sim, base):
    response = requests.post(f"{base}/Unit", auth=("API", sim.token), timeout=10)
    assert response.status_code == 405
    assert response.json()["responseStatus"]["errorCode"] == "MethodNotAllowed"


def test_unknown_paths_are_404_in_the_envelope(sim, base):
    response = get(base, sim, "/Nothing/Here")
    assert response.status_code == 404
    assert response.json()["responseStatus"]["errorCode"] == "NotFound"


# -- unit history ---------------------------------------------------------------------------------


def test_unit_history_gives_rows_every_five_minutes_with_two_probes_speed_and_position(sim, base):
    response = get(base, sim, "/Report/UnitHistory", params={"unitId": "34333", **day_window()})
    assert response.status_code == 200
    rows = response.json()["list"]
    assert len(rows) == 288
    for row in rows:
        assert {
            "time",
            "location",
            "speed",
            "temperature1",
            "temperature2",
            "batteryLevel",
            "externalPower",
        } <= set(row)
        assert re.match(TIME_FORMAT, row["time"])
    times = [parse_time(r["time"]) for r in rows]
    assert times == sorted(times)
    assert {b - a for a, b in zip(times, times[1:], strict=False)} == {timedelta(minutes=5)}
    assert any(r["speed"] > 0 for r in rows) and any(r["speed"] == 0 for r in rows)  # drives and stops


def test_history_rows_carry_the_fields_public_clients_see(sim, base):
    """docs/vendors.md [C] (kmodexc/TrackUnitPython): ``event``, ``keyId``, ``heading``, ``km``,
    ``run1``-``run4`` and inputs, besides what we read."""
    rows = get(base, sim, "/Report/UnitHistory", params={"unitId": "34333", **day_window()}).json()["list"]
    for row in rows:
        assert {"event", "keyId", "heading", "km", "run1", "run2", "run3", "run4", "input1", "input2"} <= set(
            row
        )
        assert isinstance(row["event"], int) and isinstance(row["keyId"], str) and 0 <= row["heading"] < 360
    assert {r["event"] for r in rows} == {1, 2}  # driving and standing
    for name in ("km", "run1", "run2"):
        values = [r[name] for r in rows]
        assert values == sorted(values) and values[0] < values[-1]  # counters only grow


def test_a_from_one_tick_after_a_reading_starts_after_it(sim, base):
    """A public client asks ``from=...T00:00:00.0000001Z`` (kmodexc/TrackUnitPython): the reading at
    midnight is not in that window, the one at ``to`` is."""
    rows = get(base, sim, "/Report/UnitHistory", params={"unitId": "34333", **day_window()}).json()["list"]
    first, last = rows[1]["time"], rows[-1]["time"]
    after = first[:-2] + "1Z"  # one 100 ns tick later
    window = {"unitId": "34333", "from": after, "to": last}
    inside = get(base, sim, "/Report/UnitHistory", params=window).json()["list"]
    assert [r["time"] for r in inside] == [r["time"] for r in rows[2:]]


def test_the_history_window_is_inclusive_at_both_ends(sim, base):
    rows = get(base, sim, "/Report/UnitHistory", params={"unitId": "34333", **day_window()}).json()["list"]
    first, last = rows[0]["time"], rows[-1]["time"]
    again = get(base, sim, "/Report/UnitHistory", params={"unitId": "34333", "from": first, "to": last})
    assert [r["time"] for r in again.json()["list"]] == [r["time"] for r in rows]


def test_the_one_probe_van_has_no_second_temperature(sim, base):
    rows = get(base, sim, "/Report/UnitHistory", params={"unitId": "46208", **day_window()}).json()["list"]
    assert rows and all(r["temperature2"] is None for r in rows)
    assert all(isinstance(r["temperature1"], float) for r in rows)


def test_a_failed_probe_reads_as_the_sensor_error_value(sim, base):
    device = sim.device("39670")
    assert SENSOR_ERRORS in device.traits
    rows = get(base, sim, "/Report/UnitHistory", params={"unitId": "39670", **day_window(3)}).json()["list"]
    errors = [r for r in rows if r["temperature1"] == SENSOR_ERROR_VALUE]
    assert errors, "about one reading in 97 is a sensor error on this truck"
    truth = sim.truth_readings("39670", FIXED_NOW - timedelta(days=3), FIXED_NOW)
    assert sum(1 for t in truth if t.error == SENSOR_ERROR_VALUE) == 2 * len(errors)
    assert all(t.value is None for t in truth if t.error)


def test_a_span_over_31_days_is_refused_with_invalid_parameter_to(sim, base):
    params = {"unitId": "34333", "from": fmt(FIXED_NOW - timedelta(days=31, seconds=1)), "to": fmt(FIXED_NOW)}
    response = get(base, sim, "/Report/UnitHistory", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["list"] is None
    assert body["responseStatus"]["errorCode"] == "invalidParameter"
    assert body["responseStatus"]["errors"] == [
        {
            "errorCode": "invalidParameter",
            "fieldName": "To",
            "message": "The history timespan extends the limit.",
        }
    ]
    # Exactly 31 days is allowed (a span ending a day after the world began holds one day of data only).
    world_start = datetime(2025, 1, 1, tzinfo=UTC)
    params = {
        "unitId": "34333",
        "from": fmt(world_start - timedelta(days=30)),
        "to": fmt(world_start + timedelta(days=1)),
    }
    response = get(base, sim, "/Report/UnitHistory", params=params)
    assert response.status_code == 200
    assert len(response.json()["list"]) == 288


def test_unit_history_of_an_unknown_unit_is_unit_not_found(sim, base):
    response = get(base, sim, "/Report/UnitHistory", params={"unitId": "12345", **day_window()})
    assert response.status_code == 404
    assert response.json()["responseStatus"]["errorCode"] == "unitNotFound"


@pytest.mark.parametrize(
    "params,field",
    [
        ({"unitId": "34333", "to": "2026-11-20T00:00:00Z"}, "From"),
        ({"unitId": "34333", "from": "2026-11-19T00:00:00Z", "to": "yesterday"}, "To"),
        ({"from": "2026-11-19T00:00:00Z", "to": "2026-11-20T00:00:00Z"}, "UnitId"),
        ({"unitId": "34333", "from": "2026-11-20T00:00:00Z", "to": "2026-11-19T00:00:00Z"}, "From"),
    ],
    ids=["no from", "bad to", "no unit", "from after to"],
)
def test_bad_parameters_are_invalid_parameter_with_the_field(sim, base, params, field):
    response = get(base, sim, "/Report/UnitHistory", params=params)
    assert response.status_code == 400
    status = response.json()["responseStatus"]
    assert status["errorCode"] == "invalidParameter"
    assert status["errors"][0]["fieldName"] == field


def test_positions_and_readings_in_history_are_the_truth(sim, base):
    start, end = FIXED_NOW - timedelta(days=2), FIXED_NOW
    rows = get(
        base, sim, "/Report/UnitHistory", params={"unitId": "46209", "from": fmt(start), "to": fmt(end)}
    ).json()["list"]
    positions = sim.truth_positions("46209", start, end)
    assert [
        (parse_time(r["time"]), r["location"]["latitude"], r["location"]["longitude"], r["speed"])
        for r in rows
    ] == [(p.timestamp, p.latitude, p.longitude, p.speed_kmh) for p in positions]
    readings = sim.truth_readings("46209", start, end)
    assert [r.value for r in readings] == [row[c] for row in rows for c in ("temperature1", "temperature2")]
    # This trailer goes silent a few hours a day: fewer rows than 2 days of 5-minute readings.
    assert GOES_SILENT in sim.device("46209").traits
    assert len(rows) < 2 * 288


# -- alarms ---------------------------------------------------------------------------------------


def test_alarm_history_lists_alarms_with_address_location_and_type(sim, base):
    response = get(base, sim, "/Report/AlarmHistory", params=day_window(7))
    assert response.status_code == 200
    alarms = response.json()["list"]
    assert {a["alarmType"] for a in alarms} == {"ByTemperature", "ByBatteryLevel", "ByNoData", "ByZoneEnter"}
    for alarm in alarms:
        assert set(alarm) >= {"alarmId", "unitId", "triggeredAt", "address", "location", "alarmType"}
        assert set(alarm["address"]) == {"country", "zipCode", "city", "streetAddress"}
        assert len(alarm["address"]["country"]) == 2
        assert re.match(TIME_FORMAT, alarm["triggeredAt"])
        assert alarm["alarmId"] == ALARM_RULES[alarm["alarmType"]]
    # As in the documents' example, alarmId is the rule's id and repeats.
    assert len({a["alarmId"] for a in alarms}) < len(alarms)
    by_type = {}
    for alarm in alarms:
        by_type.setdefault(alarm["alarmType"], set()).add(alarm["unitId"])
    assert by_type["ByTemperature"] == {"34333"}  # the truck with the compressor failures
    assert by_type["ByBatteryLevel"] == {"46208"}  # the van with the flat battery
    assert by_type["ByNoData"] == {"46209"}  # the trailer that goes silent
    assert sim.device("34333").traits >= {COMPRESSOR_FAILURE}
    assert LOW_BATTERY in sim.device("46208").traits


def test_a_temperature_alarm_marks_the_first_reading_outside_2_to_8_degrees(sim, base):
    alarms = [
        a
        for a in get(base, sim, "/Report/AlarmHistory", params=day_window(7)).json()["list"]
        if a["alarmType"] == "ByTemperature"
    ]
    assert alarms
    for alarm in alarms:
        at = parse_time(alarm["triggeredAt"]).replace(microsecond=0)
        readings = sim.truth_readings("34333", at - timedelta(minutes=5), at)
        now = [r.value for r in readings if r.timestamp == at]
        before = [r.value for r in readings if r.timestamp < at]
        assert any(v > 8.0 for v in now)
        assert all(2.0 <= v <= 8.0 for v in before)


def test_a_zone_enter_alarm_is_at_the_city_the_truck_arrives_in(sim, base):
    alarms = [
        a
        for a in get(base, sim, "/Report/AlarmHistory", params=day_window(1)).json()["list"]
        if a["alarmType"] == "ByZoneEnter"
    ]
    assert alarms
    from vendors.simulators.world import CITIES

    for alarm in alarms:
        assert (alarm["location"]["latitude"], alarm["location"]["longitude"]) == CITIES[
            alarm["address"]["city"]
        ]


def test_alarm_history_over_31_days_is_refused(sim, base):
    response = get(base, sim, "/Report/AlarmHistory", params=day_window(32))
    assert response.status_code == 400
    assert response.json()["responseStatus"]["errors"][0]["fieldName"] == "To"


# -- formats --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,params,headers",
    [
        ("/Unit.xml", {}, {}),
        ("/Unit", {"format": "xml"}, {}),
        ("/Unit", {}, {"Accept": "application/xml"}),
    ],
    ids=["extension", "format parameter", "accept header"],
)
def test_it_answers_well_formed_xml_when_asked(sim, base, path, params, headers):
    response = get(base, sim, path, params=params, headers=headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    root = ElementTree.fromstring(response.content)
    units = root.findall("./list/Unit")
    assert len(units) == 4
    assert {u.findtext("id") for u in units} == {"34333", "39670", "46208", "46209"}
    assert root.find("responseStatus").get("nil") == "true"


def test_errors_come_in_xml_too_when_xml_is_asked(sim, base):
    response = requests.get(
        f"{base}/Report/UnitHistory.xml",
        params={"unitId": "1", **day_window()},
        auth=("API", sim.token),
        timeout=10,
    )
    assert response.status_code == 404
    root = ElementTree.fromstring(response.content)
    assert root.findtext("./responseStatus/errorCode") == "unitNotFound"


@pytest.mark.parametrize(
    "path,params,headers",
    [
        ("/Unit.json", {}, {}),
        ("/Unit", {"format": "json"}, {"Accept": "application/xml"}),
        ("/Unit", {}, {"Accept": "application/json"}),
    ],
    ids=["extension", "format parameter beats accept", "accept header"],
)
def test_it_answers_json_when_asked(sim, base, path, params, headers):
    response = get(base, sim, path, params=params, headers=headers)
    assert response.headers["Content-Type"].startswith("application/json")
    assert len(response.json()["list"]) == 4


def test_it_answers_html_by_extension(sim, base):
    response = get(base, sim, "/Unit.html")
    assert response.headers["Content-Type"].startswith("text/html")
    assert "34333" in response.text


# -- determinism, limits, faults ------------------------------------------------------------------


def test_two_simulators_with_the_same_seed_serve_the_same_data(serve):
    bodies = []
    for _ in range(2):
        sim = TrackunitSimulator(World(seed=7, clock=lambda: FIXED_NOW.timestamp()))
        base = serve(sim).base_url("trackunit")
        bodies.append(
            [
                get(base, sim, "/Unit").json(),
                get(base, sim, "/Report/UnitHistory", params={"unitId": "39670", **day_window()}).json(),
                get(base, sim, "/Report/AlarmHistory", params=day_window(3)).json(),
                sim.credentials,
            ]
        )
    assert bodies[0] == bodies[1]
    other = TrackunitSimulator(World(seed=8, clock=lambda: FIXED_NOW.timestamp()))
    assert other.credentials != bodies[0][3]
    assert len(bodies[0][3]["token"]) >= 12


def test_more_requests_than_the_limit_get_429_until_the_window_passes(serve):
    sim = TrackunitSimulator(
        World(seed=7, clock=lambda: FIXED_NOW.timestamp()), rate_limit=3, rate_period=0.5
    )
    base = serve(sim).base_url("trackunit")
    statuses = [get(base, sim, "/Unit").status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]
    assert get(base, sim, "/Unit").json()["responseStatus"]["errorCode"] == "TooManyRequests"
    time.sleep(0.55)
    assert get(base, sim, "/Unit").status_code == 200


def test_the_documented_limit_is_50_requests_a_second():
    sim = TrackunitSimulator(World(seed=7))
    assert (sim.rate_limit, sim.rate_period, sim.max_span) == (50, 1.0, timedelta(days=31))


@pytest.fixture
def faulty(serve):
    sim = TrackunitSimulator(World(seed=7, clock=lambda: FIXED_NOW.timestamp()), Faults())
    return sim, serve(sim).base_url("trackunit")


def test_error_rate_one_gives_500_or_503_in_the_envelope(faulty):
    sim, base = faulty
    sim.faults.update(error_rate=1)
    for _ in range(6):
        response = get(base, sim, "/Unit")
        assert response.status_code in (500, 503)
        assert response.json()["list"] is None
        assert response.json()["responseStatus"]["errorCode"] in ("InternalServerError", "ServiceUnavailable")


def test_a_429_burst_refuses_the_next_requests_then_serves_again(faulty):
    sim, base = faulty
    sim.faults.update(burst_429=2)
    assert [get(base, sim, "/Unit").status_code for _ in range(3)] == [429, 429, 200]


def test_malformed_and_truncated_answers_are_not_json(faulty):
    sim, base = faulty
    for fault in ("malformed_rate", "truncated_rate"):
        sim.faults.reset()
        sim.faults.update(**{fault: 1})
        response = get(base, sim, "/Unit")
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_revoked_or_expired_credentials_get_401_until_cleared(faulty, state):
    sim, base = faulty
    sim.faults.update(credentials=state)
    assert get(base, sim, "/Unit").status_code == 401
    assert requests.get(f"{base}/Unit", params={"token": sim.token}, timeout=10).status_code == 401
    sim.faults.update(credentials="valid")
    assert get(base, sim, "/Unit").status_code == 200


def test_a_hang_answers_nothing_for_hang_seconds(faulty):
    sim, base = faulty
    sim.faults.update(hang_rate=1, hang_seconds=0.3)
    started = time.monotonic()
    response = get(base, sim, "/Unit")
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 504
    with pytest.raises(requests.Timeout):
        requests.get(f"{base}/Unit", auth=("API", sim.token), timeout=(2, 0.1))


def test_data_grows_with_the_world_clock():
    clock = [FIXED_NOW.timestamp()]
    sim = TrackunitSimulator(World(seed=7, clock=lambda: clock[0]))
    end = FIXED_NOW + timedelta(hours=1)
    before = sim.truth_readings("34333", FIXED_NOW - timedelta(hours=1), end)
    clock[0] += 3600
    after = sim.truth_readings("34333", FIXED_NOW - timedelta(hours=1), end)
    assert len(after) == len(before) + 24
    assert all(math.isfinite(r.value) for r in after if r.value is not None)
    assert all(r.timestamp.tzinfo is UTC or r.timestamp.utcoffset() == timedelta(0) for r in after)
