"""The TrackGPS (GPSWOX) client against its simulator, over real HTTP on loopback."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import FIXED_NOW
from vendors.clients.base import MemorySessionStore
from vendors.clients.errors import (
    AuthenticationError,
    ParseError,
    RateLimited,
    UnavailableError,
    VendorError,
    VendorTimeout,
)
from vendors.clients.records import ChannelInfo, DeviceInfo, PositionRecord, ReadingRecord
from vendors.clients.trackgps import (
    HISTORY_WINDOW,
    LANG,
    MAX_HISTORY_SPAN,
    TrackGPSClient,
    parse_measurement,
    sensor_quantity,
)
from vendors.simulators import SimulatorServer, World
from vendors.simulators.trackgps import SENSOR_ERROR_VALUE, TrackGPSSimulator

JAKARTA = ZoneInfo("Asia/Jakarta")
SINCE = FIXED_NOW - timedelta(days=3)


@pytest.fixture(scope="module")
def shared():
    sim = TrackGPSSimulator(World(seed=7, clock=lambda: FIXED_NOW.timestamp()), events_per_page=5)
    server = SimulatorServer([sim]).start()
    yield sim, server.base_url("trackgps")
    server.stop()


@pytest.fixture
def sim(shared):
    sim = shared[0]
    password = sim.credentials["password"]
    sim.seen_params.clear()
    yield sim
    sim.faults.reset()
    if sim.credentials["password"] != password:
        sim.change_password(password)


@pytest.fixture
def make_client(shared, sim):
    def make(store=None, **overrides) -> TrackGPSClient:
        kwargs = dict(
            base_url=shared[1], credentials=sim.credentials, timezone=sim.timezone, session_store=store
        )
        return TrackGPSClient(**{**kwargs, **overrides})

    return make


@pytest.fixture
def client(make_client):
    return make_client()


def reading_key(r):
    return (r.device_id, r.channel, r.timestamp, r.value, r.error)


def position_key(p):
    return (p.device_id, p.timestamp, p.latitude, p.longitude, p.speed_kmh)


def split(records):
    readings = sorted(reading_key(r) for r in records if isinstance(r, ReadingRecord))
    positions = sorted(position_key(p) for p in records if isinstance(p, PositionRecord))
    return readings, positions


def truth(sim, device_id, since, until):
    return (
        sorted(reading_key(r) for r in sim.truth_readings(device_id, since, until)),
        sorted(position_key(p) for p in sim.truth_positions(device_id, since, until)),
    )


# -- devices ---------------------------------------------------------------------------------------


def test_devices_come_from_every_group_with_their_cold_chain_sensors(client):
    devices = {d.vendor_id: d for d in client.devices()}
    assert list(devices) == ["1001", "1002", "1005", "1003", "1004"]
    assert {d.kind for d in devices.values()} == {"vehicle"}
    assert devices["1001"].group == "Armada Jakarta"
    assert devices["1004"].group == "Armada Jawa Tengah"
    assert [(c.name, c.quantity, c.unit) for c in devices["1002"].channels] == [
        ("5021", "temperature", "C"),
        ("5022", "humidity", "%RH"),
    ]
    # the ignition sensor (type "acc") is no cold-chain channel
    assert [c.name for c in devices["1001"].channels] == ["5011"]
    assert devices["1001"].last_seen is not None and devices["1001"].last_seen <= FIXED_NOW
    assert devices["1001"].latitude is not None
    # 1004's sensor has no type anywhere: its unit (°F, in its shown value) tells; read in °C
    assert [(c.name, c.quantity, c.unit) for c in devices["1004"].channels] == [("5041", "temperature", "C")]
    assert devices["1004"].extra["fahrenheit_sensors"] == ["5041"]


def test_a_device_that_never_reported_is_kept_without_a_time_or_a_position(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == "1005")
    assert device.last_seen is None and device.latitude is None and device.longitude is None
    assert [c.name for c in device.channels] == ["5051"]
    assert list(client.history(device, SINCE, FIXED_NOW)) == []


def test_drivers_are_attached_to_the_vehicles_they_are_linked_to(client):
    drivers = {d.vendor_id: d.driver for d in client.devices()}
    assert drivers == {
        "1001": "Budi Santoso",
        "1002": "Agus Wibowo",
        "1003": "Siti Rahayu",
        "1004": None,
        "1005": None,
    }


# -- history ---------------------------------------------------------------------------------------


def test_a_full_sync_of_three_days_equals_the_truth_in_one_day_windows(client, sim):
    devices = client.devices()
    for device in devices:
        records = list(client.history(device, SINCE, FIXED_NOW))
        assert split(records) == truth(sim, device.vendor_id, SINCE, FIXED_NOW), device.vendor_id
        assert all(since_ok for since_ok in (SINCE <= r.timestamp <= FIXED_NOW for r in records))
    windows = [p for p in sim.seen_params if "from_date" in p]
    assert len(windows) == 3 * len(devices)
    for params in windows:
        start = datetime.fromisoformat(f"{params['from_date']} {params['from_time']}").replace(tzinfo=JAKARTA)
        end = datetime.fromisoformat(f"{params['to_date']} {params['to_time']}").replace(tzinfo=JAKARTA)
        assert timedelta(0) < end - start <= HISTORY_WINDOW


def test_history_windows_are_asked_in_the_account_time_zone(client, sim):
    device = client.devices()[0]
    since = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)
    list(client.history(device, since, since + timedelta(hours=2)))
    params = [p for p in sim.seen_params if "from_date" in p][0]
    assert (params["from_date"], params["from_time"]) == ("2026-11-20", "08:30:00")  # UTC+7
    assert (params["to_date"], params["to_time"]) == ("2026-11-20", "10:30:00")


def test_re_reading_gives_the_same_records(client):
    device = client.devices()[1]
    first = list(client.history(device, SINCE, FIXED_NOW))
    second = list(client.history(device, SINCE, FIXED_NOW))
    assert first == second
    assert len(set(first)) == len(first)  # each record exactly once


def test_a_point_on_a_window_edge_comes_exactly_once(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == "1001")
    first = sim.truth_positions("1001", SINCE, FIXED_NOW)[0].timestamp
    since, until = first, first + 2 * HISTORY_WINDOW  # the windows meet on a point
    records = list(client.history(device, since, until))
    assert split(records) == truth(sim, "1001", since, until)
    assert {r.timestamp for r in records} >= {since, since + HISTORY_WINDOW, until}


def test_sensor_errors_become_readings_without_a_value(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == "1002")
    readings = list(client.readings(device, FIXED_NOW - timedelta(days=1), FIXED_NOW))
    errors = [r for r in readings if r.error]
    assert errors
    assert all(r.value is None and r.error == SENSOR_ERROR_VALUE and r.channel == "5021" for r in errors)


def test_a_silent_device_simply_has_fewer_records(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == "1003")
    positions = list(client.positions(device, FIXED_NOW - timedelta(days=1), FIXED_NOW))
    assert len(positions) == 720 - 150  # five silent hours a day, one point every two minutes


def test_every_call_sends_lang(client, sim):
    device = client.devices()[0]
    list(client.history(device, FIXED_NOW - timedelta(hours=3), FIXED_NOW))
    client.alerts(FIXED_NOW - timedelta(hours=3), FIXED_NOW)
    assert sim.seen_params
    assert all(p.get("lang") == LANG for p in sim.seen_params)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (4.5, (4.5, "")),
        ("-20.3", (-20.3, "")),
        ("4.5 °C", (4.5, "")),
        ("4.5°C", (4.5, "")),
        ("40.1 °F", (4.5, "")),  # a value carrying °F is read in °C
        ("82 %", (None, "82 %")),  # a % where a temperature belongs
        (7, (7.0, "")),
        ("ERR", (None, "ERR")),
        ("nan", (None, "nan")),
        ("4.5 km", (None, "4.5 km")),
        (float("inf"), (None, "inf")),
        (None, (None, "null")),
        ("", (None, "")),
        (True, (None, "True")),
        ("- 5", (None, "- 5")),
    ],
)
def test_a_measurement_that_is_not_a_finite_number_is_a_sensor_error(raw, expected):
    assert parse_measurement(raw) == expected


@pytest.mark.parametrize("raw", ["-", " - ", "- °C", "- nn", "-\t°F"])
def test_a_dash_is_gpswox_no_value_and_no_reading_at_all(raw):
    assert parse_measurement(raw) is None
    assert parse_measurement(raw, "F") is None and parse_measurement(raw, "%RH") is None


@pytest.mark.parametrize(
    ("raw", "scale", "expected"),
    [
        ("40.1", "F", (4.5, "")),
        (-4.54, "F", (-20.3, "")),
        ("4.5 °C", "F", (4.5, "")),  # the value's own unit wins over the sensor's
        ("82 %", "%RH", (82.0, "")),
        ("82", "%RH", (82.0, "")),
        ("4.5 °C", "%RH", (None, "4.5 °C")),
    ],
)
def test_a_measurement_is_read_in_its_sensors_unit(raw, scale, expected):
    assert parse_measurement(raw, scale) == expected


@pytest.mark.parametrize(
    ("sensor_type", "unit", "name", "expected"),
    [
        ("temperature", "°C", "Suhu Box 1", ("temperature", "C")),
        ("temperature", "°F", "Box", ("temperature", "F")),
        ("humidity", "%", "Kelembapan", ("humidity", "%RH")),
        (None, "°C", "Sensor 1", ("temperature", "C")),
        ("", "°F", "Sensor 1", ("temperature", "F")),
        ("numerical", "℃", "Probe", ("temperature", "C")),
        (None, "%", "Kelembapan Box", ("humidity", "%RH")),
        (None, "%RH", "Fuel", ("humidity", "%RH")),
        (None, "%", "Fuel level", None),
        (None, "%", "Battery", None),
        (None, None, "Temperature rear", ("temperature", "C")),
        (None, "", "Suhu", ("temperature", "C")),
        (None, "", "Humidity", ("humidity", "%RH")),
        (None, "V", "Temperature probe voltage", None),
        ("acc", "", "Ignition", None),
        ("fuel_tank", "%", "Fuel", None),
        (None, None, "Door", None),
    ],
)
def test_a_sensor_without_a_type_is_known_by_its_unit_or_its_name(sensor_type, unit, name, expected):
    assert sensor_quantity(sensor_type, unit, name) == expected


def test_history_windows_never_exceed_the_31_days_gpswox_allows():
    assert HISTORY_WINDOW <= MAX_HISTORY_SPAN == timedelta(days=31)


def test_history_in_every_shape_equals_the_truth(client, sim):
    """1001 documented, 1002 ``sufix`` sensors and numeric strings, 1003 values with units, 1004 untyped °F
    with "-" now and then: every one gives the truth exactly."""
    devices = {d.vendor_id: d for d in client.devices()}
    since = FIXED_NOW - timedelta(days=1)
    for vendor_id in ("1001", "1002", "1003", "1004"):
        records = list(client.history(devices[vendor_id], since, FIXED_NOW))
        assert split(records) == truth(sim, vendor_id, since, FIXED_NOW), vendor_id
    # 1004 sent "-" sometimes: no reading there, and its position is still kept
    readings = [r for r in client.readings(devices["1004"], since, FIXED_NOW)]
    positions = list(client.positions(devices["1004"], since, FIXED_NOW))
    assert 0 < len(readings) < len(positions)


# -- get_devices paging ----------------------------------------------------------------------------


@pytest.fixture
def fleet(world, serve):
    """``fleet(copies, **options)`` -> (simulator, client) with ``copies`` times the five vehicles."""

    def make(copies: int, **options):
        simulator = TrackGPSSimulator(world, copies=copies, **options)
        client = TrackGPSClient(
            base_url=serve(simulator).base_url("trackgps"),
            credentials=simulator.credentials,
            timezone=simulator.timezone,
        )
        return simulator, client

    return make


def test_more_than_100_devices_are_read_page_by_page(fleet):
    simulator, client = fleet(copies=26)
    devices = client.devices()
    assert len(simulator.devices) == 130
    assert sorted(d.vendor_id for d in devices) == sorted(d.vendor_id for d in simulator.devices)
    pages = [(p["page"], p["limit"]) for p in simulator.seen_params if "page" in p and "limit" in p]
    assert pages == [("1", "100"), ("2", "100"), ("3", "100")]  # the third brings nothing new: the end


def test_a_server_that_ignores_the_page_ends_the_paging_at_once(fleet):
    simulator, client = fleet(copies=26, paging=False)
    devices = client.devices()
    assert len(devices) == 130 == len({d.vendor_id for d in devices})
    assert len([p for p in simulator.seen_params if "page" in p and "limit" in p]) == 2


# -- parsers, with answers shaped as GPSWOX's own sources show them --------------------------------

# GPSWOX's API specification (Jhamnerx/gpswox-api, stoplight1.json), get_devices' example item.
STOPLIGHT_DEVICE = {
    "id": 3,
    "name": "Device name",
    "online": "offline",
    "alarm": "",
    "time": "2016-04-29 21:01:26",
    "timestamp": 1461956486,
    "acktimestamp": 0,
    "speed": 0,
    "lat": 55.922996,
    "lng": 23.3466906,
    "course": "0",
    "power": "-",
    "altitude": 175,
    "address": "-",
    "protocol": "osmand",
    "driver": "Drive first",
    "sensors": [
        {"name": "Sensor test", "value": "- nn", "show_in_popup": "0"},
        {"name": "test acc", "value": "- nn", "show_in_popup": "1"},
    ],
    "services": [{"name": "Test service", "value": "Engine hours Left (1000 )"}],
    "tail": [{"lat": "55.91986482", "lng": "23.3255625"}],
    "distance_unit_hour": "kph",
    "device_data": {"id": "3", "imei": "789832", "group_id": None},
}

# GPSWOX's Android client (ZWVAPPS/GPSWOX-Android-Client_source): HistorySensor {id, name, sufix},
# HistoryItem {status, time, show, raw_time, items}, HistoryItemCoord {lat, lng as strings, speed,
# altitude, raw_time, sensors_data [{id, value}]}; stoplight1.json's example group has "time": null.
ANDROID_HISTORY = {
    "status": 1,
    "items": [
        {
            "status": 3,
            "time": None,
            "show": "2026-11-20 10:00:00",
            "raw_time": "2026-11-20 10:00:00",
            "items": [
                {
                    "lat": "-6.2088",
                    "lng": "106.8456",
                    "speed": 0,
                    "altitude": 12,
                    "time": "2026-11-20 10:00:00",
                    "raw_time": "2026-11-20 10:00:00",
                    "sensors_data": [
                        {"id": "7", "value": "4.5 °C"},
                        {"id": "8", "value": 61},
                        {"id": "9", "value": "On"},
                    ],
                },
                {
                    "lat": "-6.2100",
                    "lng": "106.8500",
                    "speed": 40,
                    "raw_time": "2026-11-20 10:02:00",
                    "sensors_data": [{"id": "7", "value": "-"}, {"id": "8", "value": "- %"}],
                },
            ],
        },
        {
            "status": 1,
            "time": "2026-11-20 10:04:00",
            "items": [
                {
                    "lat": "-6.2200",
                    "lng": "106.8600",
                    "speed": 55.5,
                    "time": "2026-11-20 10:04:00",
                    "sensors_data": [{"id": 7, "value": "40.1 °F"}, {"id": 8, "value": "Sensor fail"}],
                }
            ],
        },
    ],
    "sensors": [
        {"id": "7", "name": "Suhu", "sufix": "°C"},
        {"id": "8", "name": "Kelembapan", "sufix": "%"},
        {"id": "9", "name": "Ignition", "sufix": ""},
    ],
}


def offline_client() -> TrackGPSClient:
    return TrackGPSClient(
        base_url="http://127.0.0.1:9",
        credentials={"email": "a@b.c", "password": "x"},
        timezone="Asia/Jakarta",
    )


def test_a_stoplight_shaped_device_without_sensor_ids_is_kept_without_channels():
    device = offline_client().device_info(STOPLIGHT_DEVICE, "Ungrouped")
    assert (device.vendor_id, device.name, device.group, device.channels) == (
        "3",
        "Device name",
        "Ungrouped",
        (),
    )
    assert device.last_seen == datetime.fromtimestamp(1461956486, UTC)
    assert (device.latitude, device.longitude) == (55.922996, 23.3466906)


@pytest.mark.parametrize("time_field", [{"time": "-"}, {}, {"time": None}, {"time": "not a time"}])
def test_a_device_that_never_reported_is_not_a_failure(time_field):
    item = {"id": 9, "name": "New truck", "timestamp": 0, "lat": 0, "lng": 0, **time_field}
    item["sensors"] = [{"id": 91, "name": "Suhu", "type": "temperature", "value": "-"}]
    device = offline_client().device_info(item, None)
    assert device.last_seen is None and device.latitude is None
    assert device.channels == (ChannelInfo("91", "temperature", "C"),)


def test_a_device_without_a_timestamp_is_seen_at_its_wall_clock_time():
    item = {"id": 9, "name": "Truck", "time": "2026-11-20 10:00:00"}
    device = offline_client().device_info(item, None)
    assert device.last_seen == datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # Jakarta is UTC+7


def test_an_android_shaped_history_is_read_by_sensor_id():
    device = DeviceInfo(
        vendor_id="3",
        name="Truck",
        kind="vehicle",
        channels=(ChannelInfo("7", "temperature", "C"), ChannelInfo("8", "humidity", "%RH")),
    )
    records = offline_client().history_records(device, ANDROID_HISTORY)
    at = [datetime(2026, 11, 20, 3, minute, tzinfo=UTC) for minute in (0, 2, 4)]
    positions = [r for r in records if isinstance(r, PositionRecord)]
    assert positions == [
        PositionRecord("3", at[0], -6.2088, 106.8456, 0.0),
        PositionRecord("3", at[1], -6.21, 106.85, 40.0),  # its time from raw_time
        PositionRecord("3", at[2], -6.22, 106.86, 55.5),
    ]
    readings = sorted(
        (r for r in records if isinstance(r, ReadingRecord)), key=lambda r: (r.timestamp, r.channel)
    )
    assert readings == [
        ReadingRecord("3", "7", at[0], 4.5, ""),
        ReadingRecord("3", "8", at[0], 61.0, ""),
        # 10:02: "-" and "- %" are no value: no reading
        ReadingRecord("3", "7", at[2], 4.5, ""),  # 40.1 °F
        ReadingRecord("3", "8", at[2], None, "Sensor fail"),
    ]


def test_a_history_sensor_in_fahrenheit_converts_its_plain_numbers():
    body = {
        "items": [{"time": None, "items": [{"time": "2026-11-20 10:00:00", "lat": "1", "lng": "2",
                                              "sensors_data": [{"id": "7", "value": "-4"}]}]}],
        "sensors": [{"id": "7", "name": "Freezer", "sufix": "°F"}],
    }  # fmt: skip
    device = DeviceInfo("3", "Van", "vehicle", (ChannelInfo("7", "temperature", "C"),))
    readings = [r for r in offline_client().history_records(device, body) if isinstance(r, ReadingRecord)]
    assert [(r.value, r.error) for r in readings] == [(-20.0, "")]


# -- alerts ----------------------------------------------------------------------------------------


def test_alerts_read_every_page_of_events(client, sim):
    alerts = client.alerts(SINCE, FIXED_NOW)
    assert alerts == sim.truth_alerts(SINCE, FIXED_NOW)
    pages = [int(p["page"]) for p in sim.seen_params if "date_from" in p]
    assert len(alerts) > 100 and pages == list(range(1, len(alerts) // 5 + 2))[: len(pages)]
    assert max(pages) == -(-len(alerts) // 5)
    assert {a.alert_type for a in alerts} == {"custom", "zone_in", "stop_duration", "overspeed"}
    assert all(a.vendor_alert_id and SINCE <= a.started_at <= FIXED_NOW for a in alerts)


# -- session ---------------------------------------------------------------------------------------


def test_the_hash_is_kept_in_the_session_store_and_reused_by_a_new_client(make_client, sim):
    store = MemorySessionStore()
    before = sim.logins
    make_client(store).devices()
    assert sim.logins == before + 1
    assert store.load()["user_api_hash"].startswith("$2y$")
    make_client(store).devices()
    make_client(store).alerts(FIXED_NOW - timedelta(hours=1), FIXED_NOW)
    assert sim.logins == before + 1


@pytest.mark.parametrize("how", ["expired", "password_changed"])
def test_a_stale_hash_mid_sync_means_one_new_login_and_the_sync_completes(make_client, sim, how):
    store = MemorySessionStore()
    client = make_client(store)
    device = client.devices()[0]
    before = sim.logins
    records = []
    for i, record in enumerate(client.history(device, SINCE, FIXED_NOW)):
        if i == 10:  # the first window is read; the hash goes stale before the second
            if how == "expired":
                sim.faults.update(credentials="expired")
            else:
                sim.change_password()
        records.append(record)
    assert sim.logins == before + 1
    assert split(records) == truth(sim, device.vendor_id, SINCE, FIXED_NOW)


def test_revoked_credentials_end_in_an_authentication_error(make_client, sim):
    store = MemorySessionStore()
    client = make_client(store)
    client.devices()
    sim.faults.update(credentials="revoked")
    with pytest.raises(AuthenticationError):
        client.devices()
    assert "user_api_hash" not in store.load()  # the stale hash is forgotten
    with pytest.raises(AuthenticationError):
        make_client().devices()


def test_a_changed_password_ends_in_an_authentication_error(client, sim):
    client.devices()
    sim.change_password("someone-changed-it-1")
    with pytest.raises(AuthenticationError) as caught:
        client.devices()
    assert caught.value.permanent


def test_wrong_credentials_are_an_authentication_error(make_client, sim):
    with pytest.raises(AuthenticationError):
        make_client(credentials={**sim.credentials, "password": "wrong-password-1"}).devices()


# -- faults ----------------------------------------------------------------------------------------


def test_server_errors_are_unavailable(client, sim):
    client.devices()
    sim.faults.update(error_rate=1)
    with pytest.raises(UnavailableError) as caught:
        client.devices()
    assert caught.value.status in (500, 503)


def test_a_429_is_rate_limited_with_retry_after(client, sim):
    client.devices()
    sim.faults.update(burst_429=1)
    with pytest.raises(RateLimited) as caught:
        client.devices()
    assert caught.value.retry_after == 60


@pytest.mark.parametrize("fault", ["malformed_rate", "truncated_rate"])
@pytest.mark.parametrize("call", ["login", "devices", "history", "alerts"])
def test_malformed_or_truncated_answers_are_parse_errors(make_client, sim, fault, call):
    client = make_client()
    device = client.devices()[0]
    if call == "login":
        client.session_store.save({})
    sim.faults.update(**{fault: 1})
    with pytest.raises(ParseError):
        if call in ("login", "devices"):
            client.devices()
        elif call == "history":
            list(client.history(device, FIXED_NOW - timedelta(hours=1), FIXED_NOW))
        else:
            client.alerts(FIXED_NOW - timedelta(hours=1), FIXED_NOW)


def test_a_hanging_server_is_a_timeout(client, sim):
    client.devices()
    client.read_timeout = 1
    sim.faults.update(hang_rate=1, hang_seconds=1.5)
    with pytest.raises(VendorTimeout):
        client.devices()


def test_an_unreachable_server_is_unavailable(make_client):
    with pytest.raises(UnavailableError):
        make_client(base_url="http://127.0.0.1:9").devices()


# -- secrets ---------------------------------------------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_no_secret_or_hash_appears_in_logs_or_errors(make_client, sim, caplog):
    caplog.set_level(logging.DEBUG)
    # Settings quiet urllib3 (it logs whole URLs at DEBUG) and redact at the root handler; open urllib3
    # up and listen on its own logger, before any project-wide handler, so the client's own filter is
    # what keeps the hash out.
    caplog.set_level(logging.DEBUG, logger="urllib3")
    raw = _Capture()
    logging.getLogger("urllib3").addHandler(raw)
    logging.getLogger("vendors").addHandler(raw)
    try:
        errors, hashes = _exercise_every_fault(make_client, sim)
    finally:
        logging.getLogger("urllib3").removeHandler(raw)
        logging.getLogger("vendors").removeHandler(raw)
    assert len(errors) >= 5
    secrets = set(sim.credentials.values()) | hashes
    secrets |= {quote(s, safe="") for s in secrets}
    assert any("GET /trackgps/api/get_devices?" in m for m in raw.messages)  # urllib3 did log its lines
    # The simulated vendor server's own access log (werkzeug) is the vendor's, not ours.
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    texts = raw.messages + ours + [str(e) for e in errors] + [repr(e) for e in errors]
    for text in texts:
        for secret in secrets:
            assert secret not in text


def _exercise_every_fault(make_client, sim) -> tuple[list[VendorError], set[str]]:
    store = MemorySessionStore()
    client = make_client(store)
    errors: list[VendorError] = []
    device = client.devices()[0]
    list(client.history(device, FIXED_NOW - timedelta(hours=2), FIXED_NOW))
    client.alerts(FIXED_NOW - timedelta(hours=2), FIXED_NOW)
    hashes = {store.load()["user_api_hash"]}
    for faults in (
        {"error_rate": 1},
        {"burst_429": 1},
        {"malformed_rate": 1},
        {"truncated_rate": 1},
        {"credentials": "expired"},
        {"credentials": "revoked"},
    ):
        sim.faults.reset()
        sim.faults.update(**faults)
        try:
            client.devices()
            list(client.history(device, FIXED_NOW - timedelta(hours=1), FIXED_NOW))
        except VendorError as exc:
            errors.append(exc)
        hashes |= {v for v in store.load().values() if isinstance(v, str)}
    return errors, hashes


@pytest.mark.django_db
def test_a_429_holds_back_every_worker_through_the_shared_rate_limiter(make_client, sim):
    from vendors.ratelimit import RateLimiter

    limiter = RateLimiter()
    client = make_client(rate_limiter=limiter, account_key="trackgps:7")
    client.devices()
    sim.faults.update(burst_429=1)
    with pytest.raises(RateLimited):
        client.devices()
    assert 55 < limiter.blocked_for(f"trackgps:{client.account_key}") <= 60


# -- a full sync in the real shapes --------------------------------------------------------------


@pytest.mark.django_db
def test_a_full_sync_of_every_shape_equals_the_truth_and_a_resync_adds_nothing(world, serve):
    from monitoring.models import Device
    from tests.factories import make_account
    from tests.test_sync import stored_positions, stored_readings, true_positions, true_readings
    from vendors.sync import sync_account

    simulator = TrackGPSSimulator(world)
    account = make_account(serve(simulator), "trackgps")
    result = sync_account(account, since=SINCE, until=FIXED_NOW)
    assert result.ok, result.errors
    truth = true_readings(simulator, SINCE, FIXED_NOW)
    assert stored_readings(account) == truth and result.readings == len(truth)
    assert stored_positions(account) == true_positions(simulator, SINCE, FIXED_NOW)
    never = Device.objects.get(account=account, vendor_id="1005")
    assert never.last_seen is None and never.channels.count() == 1
    again = sync_account(account, since=SINCE, until=FIXED_NOW)
    assert again.ok and again.readings == 0 and again.positions == 0 and stored_readings(account) == truth


@pytest.mark.django_db
def test_a_sync_of_more_than_100_devices_stores_every_one(world, serve):
    from monitoring.models import Device
    from tests.factories import make_account
    from tests.test_sync import stored_readings, true_readings
    from vendors.sync import sync_account

    simulator = TrackGPSSimulator(world, copies=21)
    account = make_account(serve(simulator), "trackgps")
    since = FIXED_NOW - timedelta(minutes=30)
    assert sync_account(account, since=since, until=FIXED_NOW).ok
    assert Device.objects.filter(account=account).count() == len(simulator.devices) == 105
    assert stored_readings(account) == true_readings(simulator, since, FIXED_NOW)
    assert sync_account(account, since=since, until=FIXED_NOW).readings == 0
