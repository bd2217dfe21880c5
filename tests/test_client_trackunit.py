"""The Trackunit Classic client against the simulator, over real HTTP."""

from __future__ import annotations

import logging
import socket
import time
from datetime import timedelta

import pytest

from tests.conftest import FIXED_NOW
from vendors.clients.base import NoRateLimiter
from vendors.clients.errors import (
    AuthenticationError,
    ParseError,
    RateLimited,
    RequestRefused,
    UnavailableError,
    VendorTimeout,
)
from vendors.clients.records import DeviceInfo, PositionRecord, ReadingRecord
from vendors.clients.trackunit import MAX_SPAN, TrackunitClient
from vendors.simulators import Faults, SimulatorServer, World
from vendors.simulators.trackunit import SENSOR_ERROR_VALUE, TrackunitSimulator

PERIOD_START = FIXED_NOW - timedelta(days=40)  # over 31 days: the client must ask in two windows


class CountingSimulator(TrackunitSimulator):
    """Records the path and query of every request it serves (to check the client's requests)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[str, dict, dict]] = []

    def handle(self, request):
        self.seen.append((request.path, dict(request.args), dict(request.headers)))
        return super().handle(request)


@pytest.fixture(scope="module")
def shared():
    sim = CountingSimulator(World(seed=7, clock=lambda: FIXED_NOW.timestamp()), rate_limit=10_000)
    server = SimulatorServer([sim]).start()
    yield sim, server.base_url("trackunit")
    server.stop()


@pytest.fixture
def sim(shared):
    return shared[0]


def make_client(sim, base, **kwargs) -> TrackunitClient:
    kwargs.setdefault("credentials", sim.credentials)
    return TrackunitClient(base_url=base, timezone=sim.timezone, **kwargs)


@pytest.fixture
def client(shared):
    sim, base = shared
    return make_client(sim, base)


def history_of(client, device, since, until):
    records = list(client.history(device, since, until))
    readings = sorted(
        (
            (r.device_id, r.channel, r.timestamp, r.value, r.error)
            for r in records
            if isinstance(r, ReadingRecord)
        ),
        key=lambda x: (x[2], x[1]),
    )
    positions = sorted(
        (r.device_id, r.timestamp, r.latitude, r.longitude, r.speed_kmh)
        for r in records
        if isinstance(r, PositionRecord)
    )
    return records, readings, positions


# -- devices --------------------------------------------------------------------------------------


def test_it_lists_every_unit_as_a_vehicle_with_its_probes(client):
    devices = {d.vendor_id: d for d in client.devices()}
    assert set(devices) == {"34333", "39670", "46208", "46209"}
    assert all(d.kind == "vehicle" for d in devices.values())
    assert [c.name for c in devices["34333"].channels] == ["temperature1", "temperature2"]
    assert [c.name for c in devices["46208"].channels] == ["temperature1"]  # the van has one probe
    for device in devices.values():
        assert all((c.quantity, c.unit) == ("temperature", "C") for c in device.channels)
        assert device.last_seen is not None and device.last_seen.utcoffset() == timedelta(0)
        assert FIXED_NOW - timedelta(hours=6) <= device.last_seen <= FIXED_NOW
        assert device.latitude is not None and device.longitude is not None
    assert devices["46208"].battery == 7.0
    assert devices["34333"].name == "Reefer truck HH-01"


def test_it_sends_the_token_by_basic_auth_and_never_in_the_url(client, sim):
    sim.seen.clear()
    client.devices()
    path, args, headers = sim.seen[-1]
    assert path == "/Unit"
    assert "token" not in args and sim.token not in str(args)
    assert headers["Authorization"].startswith("Basic ")


# -- history --------------------------------------------------------------------------------------


def truth_of(sim, vendor_id, since, until):
    readings = sorted(
        (
            (t.device_id, t.channel, t.timestamp, t.value, t.error)
            for t in sim.truth_readings(vendor_id, since, until)
        ),
        key=lambda x: (x[2], x[1]),
    )
    positions = sorted(
        (p.device_id, p.timestamp, p.latitude, p.longitude, p.speed_kmh)
        for p in sim.truth_positions(vendor_id, since, until)
    )
    return readings, positions


def test_a_full_history_of_every_unit_is_the_truth_exactly(client, sim):
    since = FIXED_NOW - timedelta(days=4)
    for device in client.devices():
        _, readings, positions = history_of(client, device, since, FIXED_NOW)
        truth_readings, truth_positions = truth_of(sim, device.vendor_id, since, FIXED_NOW)
        assert len(readings) == len(truth_readings) > 0
        assert readings == truth_readings
        assert positions == truth_positions


@pytest.mark.parametrize("unit_id", ["34333", "46208"])
def test_a_history_over_40_days_is_read_in_two_windows_and_is_the_truth_exactly(client, sim, unit_id):
    device = next(d for d in client.devices() if d.vendor_id == unit_id)
    assert FIXED_NOW - PERIOD_START > MAX_SPAN
    sim.seen.clear()
    _, readings, positions = history_of(client, device, PERIOD_START, FIXED_NOW)
    truth_readings, truth_positions = truth_of(sim, unit_id, PERIOD_START, FIXED_NOW)
    assert len(readings) == len(truth_readings) >= 40 * 288
    assert readings == truth_readings
    assert positions == truth_positions
    # Two windows of at most 31 days, and nothing else.
    windows = [args for path, args, _ in sim.seen if path == "/Report/UnitHistory"]
    assert len(windows) == len(sim.seen) == 2
    assert all(a["unitId"] == unit_id for a in windows)


def test_reading_the_same_period_again_gives_the_same_records(client):
    device = next(d for d in client.devices() if d.vendor_id == "39670")
    since, until = FIXED_NOW - timedelta(days=6, hours=3), FIXED_NOW - timedelta(hours=5)
    first = list(client.history(device, since, until))
    second = list(client.history(device, since, until))
    assert first == second
    assert len(set(first)) == len(first)  # and every record once


def test_the_bounds_of_a_period_are_inclusive_and_records_stay_inside_it(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == "34333")
    truth = sim.truth_readings("34333", FIXED_NOW - timedelta(hours=3), FIXED_NOW)
    since, until = truth[0].timestamp, truth[-1].timestamp  # exactly on readings
    records = list(client.history(device, since, until))
    stamps = {r.timestamp for r in records}
    assert min(stamps) == since and max(stamps) == until
    assert len([r for r in records if isinstance(r, ReadingRecord)]) == len(truth)


def test_a_window_boundary_on_a_reading_gives_that_reading_once(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == "46208")
    reading = sim.truth_readings("46208", FIXED_NOW - timedelta(days=2), FIXED_NOW)[10]
    since = reading.timestamp - MAX_SPAN  # so the first window ends exactly on this reading
    records = [r for r in client.readings(device, since, reading.timestamp + timedelta(hours=1))]
    assert sum(1 for r in records if r.timestamp == reading.timestamp) == 1
    truth = sim.truth_readings("46208", since, reading.timestamp + timedelta(hours=1))
    assert len(records) == len(truth)


def test_the_one_probe_van_yields_one_channel_only(client):
    device = next(d for d in client.devices() if d.vendor_id == "46208")
    readings = list(client.readings(device, FIXED_NOW - timedelta(days=1), FIXED_NOW))
    assert {r.channel for r in readings} == {"temperature1"}
    assert len(readings) == 288


def test_a_sensor_error_is_a_reading_without_a_value(client):
    device = next(d for d in client.devices() if d.vendor_id == "39670")
    readings = list(client.readings(device, FIXED_NOW - timedelta(days=3), FIXED_NOW))
    errors = [r for r in readings if r.error]
    assert errors
    assert all(r.value is None and r.error == SENSOR_ERROR_VALUE for r in errors)
    assert all(r.value is not None for r in readings if not r.error)


def test_every_row_with_a_location_is_a_position_with_speed(client):
    device = next(d for d in client.devices() if d.vendor_id == "34333")
    positions = list(client.positions(device, FIXED_NOW - timedelta(days=1), FIXED_NOW))
    assert len(positions) == 288
    assert any(p.speed_kmh and p.speed_kmh > 50 for p in positions)
    assert any(p.speed_kmh == 0 for p in positions)


def test_history_of_an_unknown_unit_is_refused(client):
    with pytest.raises(RequestRefused) as caught:
        list(client.history(DeviceInfo("999", "ghost"), FIXED_NOW - timedelta(days=1), FIXED_NOW))
    assert "unitNotFound" in str(caught.value)


# -- alerts ---------------------------------------------------------------------------------------


def test_alerts_over_40_days_are_the_truth_with_unique_stable_ids(client, sim):
    alerts = list(client.alerts(PERIOD_START, FIXED_NOW))
    truth = sim.truth_alerts(PERIOD_START, FIXED_NOW)
    assert sorted(alerts, key=lambda a: a.vendor_alert_id) == sorted(truth, key=lambda a: a.vendor_alert_id)
    assert len({a.vendor_alert_id for a in alerts}) == len(alerts)
    assert {a.alert_type for a in alerts} == {"ByTemperature", "ByBatteryLevel", "ByNoData", "ByZoneEnter"}
    # alarmId repeats (it is the rule's id), the client's ids do not.
    assert len({a.vendor_alert_id.split(":")[0] for a in alerts}) == 4
    assert list(client.alerts(PERIOD_START, FIXED_NOW)) == alerts


def test_an_alert_has_its_time_place_and_address(client):
    alerts = list(client.alerts(FIXED_NOW - timedelta(days=4), FIXED_NOW))
    temperature = next(a for a in alerts if a.alert_type == "ByTemperature")
    assert temperature.device_id == "34333"
    assert temperature.started_at.utcoffset() == timedelta(0)
    assert temperature.started_at.microsecond != 0  # the seven fractional digits, cut to six
    assert temperature.latitude is not None and temperature.longitude is not None
    zone = next(a for a in alerts if a.alert_type == "ByZoneEnter" and a.device_id == "34333")
    assert zone.address in {
        "Am Sandtorkai 50, 20457 Hamburg, DE",
        "Containervej 9, 2150 Copenhagen, DK",
        "Am Treptower Park 14, 12057 Berlin, DE",
    }


# -- rate limits ----------------------------------------------------------------------------------


def fresh(serve, faults: Faults | None = None, **kwargs):
    sim = TrackunitSimulator(World(seed=7, clock=lambda: FIXED_NOW.timestamp()), faults or Faults(), **kwargs)
    base = serve(sim).base_url("trackunit")
    client = make_client(sim, base)
    client.backoff_base = 0.01
    return sim, client


def test_a_short_burst_of_429_is_waited_out(serve):
    sim, client = fresh(serve)
    sim.faults.update(burst_429=2)
    assert len(client.devices()) == 4
    assert sim.requests_served == 3


def test_a_long_burst_of_429_ends_in_rate_limited_with_a_retry_after(serve):
    sim, client = fresh(serve)
    sim.faults.update(burst_429=50)
    with pytest.raises(RateLimited) as caught:
        client.devices()
    assert caught.value.retry_after and caught.value.retry_after > 0
    assert sim.requests_served == 1 + client.retries_after_429


def test_the_client_waits_for_the_simulators_own_limit(serve):
    sim, client = fresh(serve, rate_limit=3, rate_period=0.3)
    client.backoff_base = 0.1  # 0.1 + 0.2 + 0.4 s: more than the simulator's window
    started = time.monotonic()
    for _ in range(6):
        assert len(client.devices()) == 4
    assert time.monotonic() - started >= 0.3  # at least one back-off happened


@pytest.mark.django_db
def test_with_the_shared_rate_limiter_a_fast_loop_never_earns_a_429(serve):
    from vendors.ratelimit import RateLimiter

    sim, first = fresh(serve, rate_limit=4, rate_period=0.5)
    base = first.base_url
    client = make_client(sim, base, rate_limiter=RateLimiter(), account_key="acct-1")
    # The limiter counts fixed windows; two adjacent ones may fall in one sliding window, so the client
    # asks for less than half of the vendor's limit per window (as it does with 22 for Trackunit's 50).
    client.rate_limit, client.rate_period = 2, 0.5
    client.retries_after_429 = 0  # any 429 would raise at once
    started = time.monotonic()
    for _ in range(10):
        client.devices()
    assert time.monotonic() - started >= 1.5  # the limiter did hold the loop back

    # Without the limiter the same loop runs into the simulator's limit.
    unlimited = make_client(sim, base, rate_limiter=NoRateLimiter())
    unlimited.retries_after_429 = 0
    with pytest.raises(RateLimited):
        for _ in range(10):
            unlimited.devices()


def test_the_documented_limit_is_respected_by_default():
    assert TrackunitClient.rate_limit * 2 <= 50  # two fixed windows can meet in one second
    assert TrackunitClient.rate_period == 1.0


# -- faults ---------------------------------------------------------------------------------------


def test_server_errors_are_unavailable(serve):
    sim, client = fresh(serve)
    sim.faults.update(error_rate=1)
    with pytest.raises(UnavailableError) as caught:
        client.devices()
    assert not isinstance(caught.value, VendorTimeout)
    assert caught.value.status in (500, 503)


@pytest.mark.parametrize("fault", ["malformed_rate", "truncated_rate"])
def test_unreadable_answers_are_parse_errors(serve, fault):
    sim, client = fresh(serve)
    sim.faults.update(**{fault: 1})
    with pytest.raises(ParseError):
        client.devices()
    device = DeviceInfo("34333", "x")
    with pytest.raises(ParseError):
        list(client.history(device, FIXED_NOW - timedelta(days=1), FIXED_NOW))
    with pytest.raises(ParseError):
        list(client.alerts(FIXED_NOW - timedelta(days=1), FIXED_NOW))


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_refused_credentials_are_authentication_errors(serve, state):
    sim, client = fresh(serve)
    sim.faults.update(credentials=state)
    with pytest.raises(AuthenticationError) as caught:
        client.devices()
    assert caught.value.permanent


def test_a_wrong_token_is_an_authentication_error(serve):
    sim, client = fresh(serve)
    wrong = make_client(sim, client.base_url, credentials={"token": "not-the-token-0000"})
    with pytest.raises(AuthenticationError):
        wrong.devices()


def test_a_missing_token_is_refused_before_any_request():
    with pytest.raises(AuthenticationError):
        TrackunitClient(credentials={"token": ""})


def test_a_hanging_server_is_a_timeout(serve):
    sim, client = fresh(serve)
    sim.faults.update(hang_rate=1, hang_seconds=1.5)
    client.read_timeout = 0.3
    with pytest.raises(VendorTimeout):
        client.devices()


def test_a_server_that_is_not_there_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = TrackunitClient(base_url=f"http://127.0.0.1:{port}/trackunit", credentials={"token": "x" * 20})
    with pytest.raises(UnavailableError):
        client.devices()


def test_no_secret_appears_in_errors_or_logs(serve, caplog):
    caplog.set_level(logging.DEBUG)
    sim, client = fresh(serve)
    messages = []
    for faults in (
        {"credentials": "revoked"},
        {"error_rate": 1},
        {"malformed_rate": 1},
        {"burst_429": 50},
        {"hang_rate": 1, "hang_seconds": 1.0},
    ):
        sim.faults.reset()
        sim.faults.update(**faults)
        client.read_timeout = 0.3
        try:
            client.devices()
        except Exception as exc:  # noqa: BLE001 - we collect every message
            messages.append(str(exc))
    sim.faults.reset()
    client.devices()
    list(client.history(DeviceInfo("46208", "van"), FIXED_NOW - timedelta(hours=2), FIXED_NOW))
    with pytest.raises(RequestRefused) as caught:
        list(client.history(DeviceInfo("1", "none"), FIXED_NOW - timedelta(hours=2), FIXED_NOW))
    messages.append(str(caught.value))
    assert len(messages) == 6
    text = "\n".join(messages) + "\n" + caplog.text + repr(client)
    assert sim.token not in text
    assert sim.token.lower() not in text.lower()


# -- parsing rules (pure functions, one named place each) ----------------------------------------


def test_times_with_seven_fractional_digits_and_without_a_zone_are_read_correctly():
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from vendors.clients.trackunit import format_time, parse_time

    copenhagen = ZoneInfo("Europe/Copenhagen")
    assert parse_time("2014-03-05T07:00:02.7421152Z", copenhagen) == datetime(
        2014, 3, 5, 7, 0, 2, 742115, tzinfo=UTC
    )
    assert parse_time("2014-09-01T07:12:00", copenhagen) == datetime(
        2014, 9, 1, 5, 12, tzinfo=UTC
    )  # CEST wall clock
    assert parse_time("2014-09-01T07:12:00+02:00", UTC) == datetime(2014, 9, 1, 5, 12, tzinfo=UTC)
    assert parse_time("yesterday", UTC) is None
    assert parse_time(None, UTC) is None
    assert format_time(datetime(2014, 9, 1, 7, 12, tzinfo=UTC)) == "2014-09-01T07:12:00.0000000Z"


@pytest.mark.parametrize(
    "raw,expected",
    [
        (4.5, (4.5, "")),
        ("4.5", (4.5, "")),
        (-18, (-18.0, "")),
        ("NaN", (None, "NaN")),
        (float("nan"), (None, "NaN")),
        (float("inf"), (None, "Infinity")),
        ("Sensor Error", (None, "Sensor Error")),
        (True, (None, "true")),
        (None, None),
    ],
)
def test_a_measurement_that_is_not_a_finite_number_is_a_sensor_error(raw, expected):
    from vendors.clients.trackunit import parse_measurement

    assert parse_measurement(raw) == expected


def test_an_alarm_address_becomes_one_line():
    from vendors.clients.trackunit import address_line

    address = {"country": "DK", "zipCode": "3000", "city": "Helsingør", "streetAddress": "Haderslevvej 16F"}
    assert address_line(address) == "Haderslevvej 16F, 3000 Helsingør, DK"
    assert address_line({"country": "DK", "city": "Nivå"}) == "Nivå, DK"
    assert address_line(None) == ""


# -- the shapes public clients see (kmodexc/TrackUnitPython, docs/vendors.md [C]) ------------------------

# A UnitHistory row with every field pytrackunit's cache keeps besides ours.
PUBLIC_CLIENT_ROW = {
    "time": "2021-05-03T06:15:00.0000000Z",
    "event": 12,
    "keyId": "",
    "location": {"latitude": 55.6761, "longitude": 12.5683},
    "heading": 270,
    "speed": 48.5,
    "km": 104233.7,
    "run1": 1520.25,
    "run2": 988.0,
    "run3": 0,
    "run4": None,
    "runOdo": 1.5,
    "temperature1": 4.2,
    "temperature2": "NaN",
    "input1": 1,
    "input2": 0,
    "input10": True,
    "output1": 0,
    "analogInput1": 12.7,
    "Input1ChangeCounter": 3,
    "batteryLevel": 98,
    "externalPower": True,
}


def test_a_history_row_with_every_extra_field_gives_only_our_records():
    from datetime import UTC, datetime

    from vendors.clients.trackunit import row_records

    at = datetime(2021, 5, 3, 6, 15, tzinfo=UTC)
    assert list(row_records("3331359", at, PUBLIC_CLIENT_ROW)) == [
        ReadingRecord("3331359", "temperature1", at, 4.2, ""),
        ReadingRecord("3331359", "temperature2", at, None, "NaN"),
        PositionRecord("3331359", at, 55.6761, 12.5683, 48.5),
    ]


@pytest.mark.parametrize(
    "extra",
    [
        {"event": "twelve", "keyId": 7, "heading": None, "km": [], "run1": {"x": 1}, "input1": "on"},
        {"event": 10**400, "heading": float("nan"), "km": "1e999"},
    ],
)
def test_odd_extra_fields_are_ignored_safely(extra):
    from datetime import UTC, datetime

    from vendors.clients.trackunit import row_records

    at = datetime(2021, 5, 3, 6, 15, tzinfo=UTC)
    assert list(row_records("3331359", at, {**PUBLIC_CLIENT_ROW, **extra})) == list(
        row_records("3331359", at, PUBLIC_CLIENT_ROW)
    )


def test_a_row_with_flat_coordinates_still_gives_a_position():
    from datetime import UTC, datetime

    from vendors.clients.trackunit import row_records

    at = datetime(2021, 5, 3, 6, 15, tzinfo=UTC)
    row = {"time": "x", "latitude": "55.6761", "longitude": 12.5683, "speed": 0, "temperature1": None}
    assert list(row_records("1", at, row)) == [PositionRecord("1", at, 55.6761, 12.5683, 0.0)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3331359", "3331359"),
        (" 34333 ", "34333"),
        (34333, "34333"),
        (34333.0, "34333"),
        (None, None),
        (True, None),
        ("", None),
    ],
)
def test_a_unit_id_is_text_whether_it_comes_as_a_string_or_a_number(raw, expected):
    from vendors.clients.trackunit import unit_id_text

    assert unit_id_text(raw) == expected


def test_units_and_alarms_with_string_ids_sync_to_the_same_devices(client, sim):
    units = client.devices()
    assert sorted(u.vendor_id for u in units) == sorted(d.vendor_id for d in sim.devices)
    alerts = list(client.alerts(FIXED_NOW - timedelta(days=3), FIXED_NOW))
    assert alerts and {a.device_id for a in alerts} <= {u.vendor_id for u in units}
