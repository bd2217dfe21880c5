"""The TrackGPS (GPSWOX) simulator answers as trackgps.txt and docs/vendors.md say, over real HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.conftest import FIXED_NOW
from vendors.simulators import SimulatorServer, World
from vendors.simulators.trackgps import NO_VALUE, SENSOR_ERROR_VALUE, VALIDATION_STATUS, TrackGPSSimulator
from vendors.simulators.world import COMPRESSOR_FAILURE, GOES_SILENT, SENSOR_ERRORS

JAKARTA = ZoneInfo("Asia/Jakarta")


@pytest.fixture(scope="module")
def shared():
    """One simulator and server for the module (stopping a server costs half a second)."""
    sim = TrackGPSSimulator(World(seed=7, clock=lambda: FIXED_NOW.timestamp()))
    server = SimulatorServer([sim]).start()
    yield sim, server.base_url("trackgps")
    server.stop()


@pytest.fixture
def sim(shared):
    sim = shared[0]
    password = sim.credentials["password"]
    yield sim
    sim.faults.reset()
    if sim.credentials["password"] != password:
        sim.change_password(password)


@pytest.fixture
def base(shared, sim):
    return shared[1]


def login(base, sim) -> str:
    response = requests.post(f"{base}/api/login", data=sim.credentials, timeout=10)
    assert response.status_code == 200
    return response.json()["user_api_hash"]


def get(base, endpoint, user_api_hash, **params):
    params = {"lang": "en", "user_api_hash": user_api_hash, **params}
    return requests.get(f"{base}/api/{endpoint}", params=params, timeout=10)


def wall(instant: datetime) -> tuple[str, str]:
    local = instant.astimezone(JAKARTA)
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")


def history(base, user_api_hash, device_id, start, end, **extra):
    (fd, ft), (td, tt) = wall(start), wall(end)
    params = dict(device_id=device_id, from_date=fd, from_time=ft, to_date=td, to_time=tt)
    return get(base, "get_history", user_api_hash, **{**params, **extra})


# -- authentication --------------------------------------------------------------------------------


def test_login_with_the_form_gives_a_user_api_hash(base, sim):
    response = requests.post(f"{base}/api/login", data=sim.credentials, timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == 1
    assert body["user_api_hash"].startswith("$2y$10$")


def test_login_with_a_wrong_password_is_401_wrong_credentials(base, sim):
    data = {**sim.credentials, "password": "not-the-password"}
    response = requests.post(f"{base}/api/login", data=data, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"status": 0, "message": "Wrong credentials."}


def test_login_without_a_password_is_a_validation_error(base, sim):
    response = requests.post(f"{base}/api/login", data={"email": sim.credentials["email"]}, timeout=10)
    assert response.status_code == VALIDATION_STATUS
    assert response.json()["status"] == 0


def test_login_by_get_is_not_allowed(base):
    assert requests.get(f"{base}/api/login", timeout=10).status_code == 405


def test_credentials_are_deterministic_and_long_enough(world):
    a, b = TrackGPSSimulator(world).credentials, TrackGPSSimulator(World(seed=7)).credentials
    assert a == b
    assert set(a) == {"email", "password"}
    assert all(len(v) >= 12 for v in a.values())
    assert TrackGPSSimulator(World(seed=8)).credentials != a


def test_every_call_without_a_valid_hash_is_401(base):
    for user_api_hash in ("", "$2y$10$unknown"):
        response = get(base, "get_devices", user_api_hash)
        assert response.status_code == 401
        assert response.json()["status"] == 0


def test_every_call_without_lang_is_refused(base, sim):
    user_api_hash = login(base, sim)
    for endpoint in ("get_devices", "devices_groups", "get_alerts", "get_user_drivers", "get_events"):
        response = requests.get(f"{base}/api/{endpoint}", params={"user_api_hash": user_api_hash}, timeout=10)
        assert response.status_code == VALIDATION_STATUS, endpoint
        assert response.json()["status"] == 0
        assert "lang" in response.json()["errors"]


def test_a_changed_password_makes_every_hash_stale(base, sim):
    user_api_hash = login(base, sim)
    sim.change_password()
    assert get(base, "get_devices", user_api_hash).status_code == 401
    assert get(base, "get_devices", login(base, sim)).status_code == 200
    sim.change_password("a-brand-new-password")
    response = requests.post(
        f"{base}/api/login", data={**sim.credentials, "password": "the-old-one-12"}, timeout=10
    )
    assert response.status_code == 401
    assert sim.credentials["password"] == "a-brand-new-password"


def test_unknown_endpoint_is_404_in_the_vendor_shape(base, sim):
    response = get(base, "get_nothing", login(base, sim))
    assert response.status_code == 404
    assert response.json()["status"] == 0


# -- devices ---------------------------------------------------------------------------------------


def test_get_devices_is_a_bare_array_of_groups_with_devices_and_sensors(base, sim):
    response = get(base, "get_devices", login(base, sim))
    assert response.status_code == 200
    groups = response.json()
    assert isinstance(groups, list)
    assert [g["title"] for g in groups] == ["Armada Jakarta", "Armada Jawa Tengah"]
    items = [item for g in groups for item in g["items"]]
    assert [item["id"] for item in items] == [1001, 1002, 1005, 1003, 1004]
    for item in items:
        for key in (
            "id",
            "name",
            "lat",
            "lng",
            "speed",
            "time",
            "timestamp",
            "online",
            "sensors",
            "device_data",
        ):
            assert key in item
        types = {s.get("type") for s in item["sensors"]}
        assert "acc" in types  # an ignition sensor that is no cold-chain reading
        assert "temperature" in types or item["id"] == 1004
    humidity = [s for s in items[1]["sensors"] if s.get("type") == "humidity"]
    assert humidity and humidity[0]["id"] == 5022
    # the device's time is wall-clock time in Asia/Jakarta, its timestamp epoch seconds
    first = items[0]
    local = datetime.fromtimestamp(first["timestamp"], tz=UTC).astimezone(JAKARTA)
    assert first["time"] == local.strftime("%Y-%m-%d %H:%M:%S")


def test_a_device_that_never_reported_has_a_dash_for_its_time(base, sim):
    items = {i["id"]: i for g in get(base, "get_devices", login(base, sim)).json() for i in g["items"]}
    new = items[1005]
    assert (new["time"], new["timestamp"], new["lat"], new["lng"], new["online"]) == ("-", 0, 0, 0, "offline")
    assert [s["value"] for s in new["sensors"]] == ["- °C", "-"]
    assert sim.truth_readings("1005", FIXED_NOW - timedelta(days=3), FIXED_NOW) == []
    body = history(base, login(base, sim), 1005, FIXED_NOW - timedelta(days=1), FIXED_NOW).json()
    assert body["items"] == []


def test_a_sensor_without_a_type_shows_its_unit_in_its_value(base, sim):
    items = {i["id"]: i for g in get(base, "get_devices", login(base, sim)).json() for i in g["items"]}
    sensor = next(s for s in items[1004]["sensors"] if s["id"] == 5041)
    assert "type" not in sensor and "unit_of_measurement" not in sensor
    assert sensor["value"].endswith(" °F") or sensor["value"] == "- °F"


def test_get_devices_is_paged_by_limit_and_page(serve, world):
    sim = TrackGPSSimulator(world, copies=26)
    base = serve(sim).base_url("trackgps")
    user_api_hash = login(base, sim)

    def ids(**params):
        return [i["id"] for g in get(base, "get_devices", user_api_hash, **params).json() for i in g["items"]]

    first, second = ids(), ids(page=2)
    assert len(first) == 100 and len(second) == 30  # [C] 100 a page by default
    assert ids(page=3) == [] and get(base, "get_devices", user_api_hash, page=3).json() == []
    assert sorted(first + second) == sorted(int(d.vendor_id) for d in sim.devices)
    assert ids(limit=7, page=2) == first[7:14]
    assert get(base, "get_devices", user_api_hash, limit="many").status_code == VALIDATION_STATUS


def test_an_older_server_ignores_limit_and_page(serve, world):
    sim = TrackGPSSimulator(world, copies=26, paging=False)
    base = serve(sim).base_url("trackgps")
    user_api_hash = login(base, sim)
    pages = [get(base, "get_devices", user_api_hash, limit=10, page=n).json() for n in (1, 2)]
    assert pages[0] == pages[1] and sum(len(g["items"]) for g in pages[0]) == 130


def test_devices_link_their_driver(base, sim):
    groups = get(base, "get_devices", login(base, sim)).json()
    items = {item["id"]: item for g in groups for item in g["items"]}
    assert items[1001]["driver_data"]["name"] == "Budi Santoso"
    assert items[1004]["driver_data"]["name"] is None


def test_the_devices_cover_the_vendor_traits(sim):
    traits = {d.vendor_id: d.traits for d in sim.devices}
    assert COMPRESSOR_FAILURE in traits["1001"]
    assert SENSOR_ERRORS in traits["1002"]
    assert GOES_SILENT in traits["1003"]
    assert all(d.kind == "vehicle" and d.interval == 120 for d in sim.devices)
    assert all(set(d.route) <= {"Jakarta", "Bandung", "Cirebon", "Semarang"} for d in sim.devices)


def test_devices_groups_lists_the_groups_paginated(base, sim):
    body = get(base, "devices_groups", login(base, sim)).json()
    assert body["status"] == 1
    assert [g["title"] for g in body["items"]["data"]] == ["Armada Jakarta", "Armada Jawa Tengah"]
    body = get(base, "devices_groups", login(base, sim), search_phrase="tengah").json()
    assert [g["title"] for g in body["items"]["data"]] == ["Armada Jawa Tengah"]


# -- history ---------------------------------------------------------------------------------------


def test_history_has_the_documented_shape_with_local_times(base, sim):
    end = FIXED_NOW - timedelta(hours=2)
    response = history(base, login(base, sim), 1001, end - timedelta(hours=6), end)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == 1
    assert {s["type"] for s in body["sensors"]} == {"temperature", "acc"}
    for s in body["sensors"]:
        assert set(s) >= {"id", "name", "type", "unit_of_measurement"}
    points = [p for segment in body["items"] for p in segment["items"]]
    assert {seg["status"] for seg in body["items"]} <= {1, 2}
    assert body["items"][0]["time"] is None  # [C] a history group's time may be null
    assert all(seg["time"] == seg["items"][0]["time"] for seg in body["items"][1:])
    truth = sim.truth_positions("1001", end - timedelta(hours=6), end)
    assert len(points) == len(truth) == 180  # one point every two minutes
    for point, expected in zip(points, truth, strict=True):
        assert set(point) >= {"id", "lat", "lng", "speed", "time", "raw_time", "server_time", "sensors_data"}
        local = expected.timestamp.astimezone(JAKARTA).strftime("%Y-%m-%d %H:%M:%S")
        assert point["time"] == point["raw_time"] == local  # [C] raw_time is local time like time
        server_time = datetime.strptime(point["server_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert timedelta(0) < server_time - expected.timestamp < timedelta(minutes=1)
        assert (point["lat"], point["lng"], point["speed"]) == (
            expected.latitude,
            expected.longitude,
            expected.speed_kmh,
        )


def test_history_of_the_other_trucks_has_the_shapes_of_gpswox_own_sources(base, sim):
    """docs/vendors.md [C]: sensors ``{"id", "name", "sufix"}`` without a type, values as strings (with or
    without their unit, "-" for no value), lat/lng as strings."""
    user_api_hash = login(base, sim)
    start, end = FIXED_NOW - timedelta(hours=12), FIXED_NOW

    def answer(device_id):
        body = history(base, user_api_hash, device_id, start, end).json()
        return body, [p for seg in body["items"] for p in seg["items"]]

    body, points = answer(1002)
    assert body["sensors"] == [
        {"id": "5021", "name": "Suhu Box 1", "sufix": "°C"},
        {"id": "5022", "name": "Kelembapan Box", "sufix": "%"},
        {"id": "5029", "name": "Ignition", "sufix": ""},
    ]
    values = [s["value"] for p in points for s in p["sensors_data"] if s["id"] == 5021]
    assert all(isinstance(v, str) for v in values) and all(
        float(v) for v in values if v != SENSOR_ERROR_VALUE
    )
    assert all(isinstance(p["lat"], str) and isinstance(p["lng"], str) for p in points)
    truth = sim.truth_positions("1002", start, end)
    assert [(float(p["lat"]), float(p["lng"])) for p in points] == [(t.latitude, t.longitude) for t in truth]

    _, points = answer(1003)
    assert all(s["value"].endswith(" °C") for p in points for s in p["sensors_data"] if s["id"] == 5031)

    body, points = answer(1004)
    assert body["sensors"][0] == {"id": "5041", "name": "Suhu Box 1", "sufix": "°F"}
    values = [s["value"] for p in points for s in p["sensors_data"] if s["id"] == 5041]
    assert NO_VALUE in values
    readings = {r.timestamp: r.value for r in sim.truth_readings("1004", start, end)}
    for point, value in zip(points, values, strict=True):
        at = datetime.strptime(point["time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=JAKARTA).astimezone(UTC)
        if value == NO_VALUE:
            assert at not in readings  # no value, no reading in the truth
        else:
            assert value.endswith(" °F") and abs((float(value[:-3]) - 32) / 1.8 - readings[at]) < 1e-9


def test_history_bounds_are_inclusive(base, sim):
    truth = sim.truth_positions("1001", FIXED_NOW - timedelta(hours=1), FIXED_NOW)
    first, last = truth[0].timestamp, truth[-1].timestamp
    body = history(base, login(base, sim), 1001, first, last).json()
    points = [p for segment in body["items"] for p in segment["items"]]
    assert len(points) == len(truth)


def test_history_accepts_times_without_seconds(base, sim):
    user_api_hash = login(base, sim)
    response = get(
        base,
        "get_history",
        user_api_hash,
        device_id=1001,
        from_date="2026-11-20",
        from_time="10:00",
        to_date="2026-11-20",
        to_time="12:00",
    )
    assert response.status_code == 200
    points = [p for segment in response.json()["items"] for p in segment["items"]]
    start = datetime(2026, 11, 20, 10, tzinfo=JAKARTA)
    assert len(points) == len(sim.truth_positions("1001", start, start + timedelta(hours=2)))


def test_history_renders_sensor_errors_as_the_named_constant(base, sim):
    start = FIXED_NOW - timedelta(days=1)
    errors = [r for r in sim.truth_readings("1002", start, FIXED_NOW) if r.error]
    assert errors and all(r.error == SENSOR_ERROR_VALUE and r.value is None for r in errors)
    body = history(base, login(base, sim), 1002, start, FIXED_NOW).json()
    values = [
        s["value"]
        for seg in body["items"]
        for p in seg["items"]
        for s in p["sensors_data"]
        if s["id"] == 5021
    ]
    assert values.count(SENSOR_ERROR_VALUE) == len(errors)


def test_a_silent_device_has_no_points_while_silent(base, sim):
    start = FIXED_NOW - timedelta(days=1)
    body = history(base, login(base, sim), 1003, start, FIXED_NOW).json()
    points = [p for seg in body["items"] for p in seg["items"]]
    assert len(points) == len(sim.truth_positions("1003", start, FIXED_NOW)) == 720 - 150


def test_history_refuses_missing_parameters_and_unknown_devices(base, sim):
    user_api_hash = login(base, sim)
    response = get(base, "get_history", user_api_hash, device_id=1001, from_date="2026-11-19")
    assert response.status_code == VALIDATION_STATUS
    response = history(base, user_api_hash, 9999, FIXED_NOW - timedelta(hours=1), FIXED_NOW)
    assert response.status_code == 404
    response = history(base, user_api_hash, 1001, FIXED_NOW, FIXED_NOW - timedelta(hours=1))
    assert response.status_code == VALIDATION_STATUS
    response = history(base, user_api_hash, 1001, FIXED_NOW, FIXED_NOW, from_date="20-11-2026")
    assert response.status_code == VALIDATION_STATUS


def test_a_history_span_over_31_days_is_refused_and_a_test_may_lower_it(base, sim, serve, world):
    user_api_hash = login(base, sim)
    assert history(base, user_api_hash, 1001, FIXED_NOW - timedelta(days=31), FIXED_NOW).status_code == 200
    response = history(base, user_api_hash, 1001, FIXED_NOW - timedelta(days=31, seconds=1), FIXED_NOW)
    assert response.status_code == VALIDATION_STATUS
    low = TrackGPSSimulator(world, max_history_days=1)
    low_base = serve(low).base_url("trackgps")
    user_api_hash = login(low_base, low)
    assert history(low_base, user_api_hash, 1001, FIXED_NOW - timedelta(days=1), FIXED_NOW).status_code == 200
    response = history(low_base, user_api_hash, 1001, FIXED_NOW - timedelta(days=2), FIXED_NOW)
    assert response.status_code == VALIDATION_STATUS


# -- events, alerts, drivers, services ---------------------------------------------------------------


def events_page(base, user_api_hash, start, end, **extra):
    local = [t.astimezone(JAKARTA).strftime("%Y-%m-%d %H:%M:%S") for t in (start, end)]
    return get(base, "get_events", user_api_hash, date_from=local[0], date_to=local[1], **extra)


def test_events_are_paginated_newest_first_and_match_the_truth(serve, world):
    sim = TrackGPSSimulator(world, events_per_page=7)
    base = serve(sim).base_url("trackgps")
    user_api_hash = login(base, sim)
    start = FIXED_NOW - timedelta(days=1)
    first = events_page(base, user_api_hash, start, FIXED_NOW).json()
    assert first["status"] == 1
    items = first["items"]
    assert set(items) >= {"total", "per_page", "current_page", "last_page", "data"}
    assert items["per_page"] == 7 and items["current_page"] == 1
    rows = []
    for page in range(1, items["last_page"] + 1):
        rows += events_page(base, user_api_hash, start, FIXED_NOW, page=page).json()["items"]["data"]
    assert len(rows) == items["total"] > 7
    for row in rows:
        assert set(row) >= {"id", "device_id", "message", "latitude", "longitude", "speed", "time"}
    times = [row["time"] for row in rows]
    assert times == sorted(times, reverse=True)
    truth = sim.truth_alerts(start, FIXED_NOW)
    assert sorted(str(r["id"]) for r in rows) == sorted(a.vendor_alert_id for a in truth)
    beyond = events_page(base, user_api_hash, start, FIXED_NOW, page=items["last_page"] + 1).json()
    assert beyond["items"]["data"] == []


def test_events_come_from_the_world(sim):
    alerts = sim.truth_alerts(FIXED_NOW - timedelta(days=3), FIXED_NOW)
    kinds = {(a.device_id, a.alert_type) for a in alerts}
    assert ("1001", "custom") in kinds  # the compressor failure: temperature above 8
    assert {a.alert_type for a in alerts} == {"custom", "zone_in", "stop_duration", "overspeed"}
    warm = [a for a in alerts if a.alert_type == "custom" and a.device_id == "1001"]
    assert all(a.message == "Temperature above 8" for a in warm)
    assert len({a.vendor_alert_id for a in alerts}) == len(alerts)


def test_events_do_not_depend_on_the_period_asked(sim):
    day = sim.truth_alerts(FIXED_NOW - timedelta(days=1), FIXED_NOW)
    week = sim.truth_alerts(FIXED_NOW - timedelta(days=2), FIXED_NOW)
    assert [a for a in week if a.started_at >= FIXED_NOW - timedelta(days=1)] == day


def test_events_filter_by_device_and_type(base, sim):
    user_api_hash = login(base, sim)
    start = FIXED_NOW - timedelta(days=1)
    rows = events_page(base, user_api_hash, start, FIXED_NOW, device_id=1004, type="zone_in").json()["items"][
        "data"
    ]
    assert rows and all(r["device_id"] == 1004 and r["type"] == "zone_in" for r in rows)


def test_events_require_their_dates(base, sim):
    response = get(base, "get_events", login(base, sim), date_from="2026-11-19")
    assert response.status_code == VALIDATION_STATUS
    assert "date_to" in response.json()["errors"]


def test_alerts_summary_drivers_and_services_answer(base, sim):
    user_api_hash = login(base, sim)
    alerts = get(base, "get_alerts", user_api_hash).json()
    assert alerts["status"] == 1 and len(alerts["items"]["alerts"]) == 4
    summary = get(base, "get_alerts_summary", user_api_hash).json()
    assert summary["status"] == 1 and all(set(i) == {"type", "count"} for i in summary["items"])
    drivers = get(base, "get_user_drivers", user_api_hash).json()["items"]["data"]
    assert {d["name"]: d["device_id"] for d in drivers} == {
        "Budi Santoso": 1001,
        "Agus Wibowo": 1002,
        "Siti Rahayu": 1003,
        "Dedi Kurniawan": None,
    }
    services = get(base, "get_services", user_api_hash, device_id=1001).json()
    assert services["status"] == 1 and services["items"][0]["device_id"] == 1001
    assert get(base, "get_services", user_api_hash).status_code == VALIDATION_STATUS


# -- determinism -----------------------------------------------------------------------------------


def test_two_simulators_with_the_same_seed_serve_the_same_data(serve, world):
    a, b = TrackGPSSimulator(world), TrackGPSSimulator(World(seed=7, clock=world.clock))
    base_a = serve(a).base_url("trackgps")
    base_b = serve(b).base_url("trackgps")
    hash_a, hash_b = login(base_a, a), login(base_b, b)
    assert hash_a == hash_b  # deterministic too
    start = FIXED_NOW - timedelta(hours=6)
    assert (
        history(base_a, hash_a, 1002, start, FIXED_NOW).json()
        == history(base_b, hash_b, 1002, start, FIXED_NOW).json()
    )
    assert get(base_a, "get_devices", hash_a).json() == get(base_b, "get_devices", hash_b).json()


# -- faults ----------------------------------------------------------------------------------------


def test_error_rate_one_gives_500_or_503(base, sim):
    sim.faults.update(error_rate=1)
    statuses = {
        requests.post(f"{base}/api/login", data=sim.credentials, timeout=10).status_code for _ in range(8)
    }
    assert statuses <= {500, 503} and statuses


def test_burst_429_refuses_the_next_requests_then_recovers(base, sim):
    sim.faults.update(burst_429=2)
    for _ in range(2):
        response = requests.post(f"{base}/api/login", data=sim.credentials, timeout=10)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "60"
        assert response.json()["status"] == 0
    assert requests.post(f"{base}/api/login", data=sim.credentials, timeout=10).status_code == 200


@pytest.mark.parametrize("fault", ["malformed_rate", "truncated_rate"])
def test_malformed_and_truncated_bodies_are_not_json(base, sim, fault):
    user_api_hash = login(base, sim)
    sim.faults.update(**{fault: 1})
    response = get(base, "get_devices", user_api_hash)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_revoked_credentials_refuse_login_and_every_hash(base, sim):
    user_api_hash = login(base, sim)
    sim.faults.update(credentials="revoked")
    assert get(base, "get_devices", user_api_hash).status_code == 401
    response = requests.post(f"{base}/api/login", data=sim.credentials, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"status": 0, "message": "Wrong credentials."}
    sim.faults.update(credentials="valid")
    assert get(base, "get_devices", login(base, sim)).status_code == 200


def test_expired_credentials_make_old_hashes_stale_and_a_new_login_works(base, sim):
    old = login(base, sim)
    sim.faults.update(credentials="expired")
    assert get(base, "get_devices", old).status_code == 401
    new = login(base, sim)
    assert new != old
    assert get(base, "get_devices", new).status_code == 200


def test_a_hang_answers_late_with_504(base, sim):
    sim.faults.update(hang_rate=1, hang_seconds=0.3)
    with pytest.raises(requests.Timeout):
        requests.post(f"{base}/api/login", data=sim.credentials, timeout=0.1)
    assert requests.post(f"{base}/api/login", data=sim.credentials, timeout=5).status_code == 504
