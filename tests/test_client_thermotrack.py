"""The Thermotrack Webserve client, over HTTP against the simulator."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from werkzeug.wrappers import Response

from vendors.clients.errors import (
    AuthenticationError,
    ParseError,
    RateLimited,
    RequestRefused,
    UnavailableError,
    VendorError,
    VendorTimeout,
)
from vendors.clients.records import DeviceInfo, PositionRecord, ReadingRecord
from vendors.clients.thermotrack import ThermotrackClient
from vendors.simulators import SimulatorServer, World
from vendors.simulators.thermotrack import SENSOR_ERROR_VALUE, ThermotrackSimulator

from .conftest import FIXED_NOW

PARIS = ZoneInfo("Europe/Paris")
WEEK_START, WEEK_END = FIXED_NOW - timedelta(days=7), FIXED_NOW
DEVICE_IDS = ["6128", "6129", "6130", "6131", "6132", "9409"]


class RecordingThermotrack(ThermotrackSimulator):
    """The simulator, noting what it was asked; ``payload`` replaces every answer when set."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reset_log()
        self.payload: Response | None = None

    def reset_log(self):
        self.requests: list[tuple[str, str, bytes]] = []  # (HTTP method, path, query string)
        self.totals: list[int] = []  # TotalRecord of every data answer

    def dispatch(self, request):
        self.requests.append((request.method, request.path, request.query_string))
        if self.payload is not None:
            return self.payload
        return super().dispatch(request)

    def wall_clock_times(self, device, wall_start, wall_end):
        times = super().wall_clock_times(device, wall_start, wall_end)
        self.totals.append(len(times))
        return times


@pytest.fixture(scope="module")
def shared():
    """One server for the module (stopping one takes half a second); the world clock can be moved."""
    now = [FIXED_NOW.timestamp()]
    simulator = RecordingThermotrack(world=World(seed=7, clock=lambda: now[0]))
    server = SimulatorServer([simulator]).start()
    yield simulator, server, now
    server.stop()


@pytest.fixture
def simulator(shared):
    simulator, _, now = shared
    simulator.faults.reset()
    simulator.reset_log()
    simulator.payload = None
    simulator.max_records = 1000
    now[0] = FIXED_NOW.timestamp()
    yield simulator
    simulator.faults.reset()
    simulator.payload = None
    simulator.max_records = 1000
    now[0] = FIXED_NOW.timestamp()


@pytest.fixture
def set_world_clock(shared):
    def set_clock(moment: datetime) -> None:
        shared[2][0] = moment.timestamp()

    return set_clock


@pytest.fixture
def make_client(shared, simulator):
    server = shared[1]

    def make(fmt: str = "json", **kwargs) -> ThermotrackClient:
        info = server.describe("thermotrack")
        return ThermotrackClient(
            base_url=info["base_url"],
            credentials=info["credentials"],
            timezone=info["timezone"],
            response_format=fmt,
            **kwargs,
        )

    return make


def device(vendor_id: str, kind: str = "fixed") -> DeviceInfo:
    return DeviceInfo(vendor_id=vendor_id, name=vendor_id, kind=kind)


def readings_of(records) -> list[tuple]:
    return sorted(
        (r.device_id, r.channel, r.timestamp, r.value, r.error)
        for r in records
        if isinstance(r, ReadingRecord)
    )


def positions_of(records) -> list[tuple]:
    return sorted(
        (r.device_id, r.timestamp, r.latitude, r.longitude, r.speed_kmh)
        for r in records
        if isinstance(r, PositionRecord)
    )


def truth(simulator, vendor_id, since, until) -> tuple[list[tuple], list[tuple]]:
    readings = sorted(
        (r.device_id, r.channel, r.timestamp, r.value, r.error)
        for r in simulator.truth_readings(vendor_id, since, until)
    )
    positions = sorted(
        (p.device_id, p.timestamp, p.latitude, p.longitude, p.speed_kmh)
        for p in simulator.truth_positions(vendor_id, since, until)
    )
    return readings, positions


# -- devices ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_it_lists_every_equipment_with_its_channels_and_kind(make_client, fmt):
    devices = {d.vendor_id: d for d in make_client(fmt).devices()}
    assert list(devices) == DEVICE_IDS
    assert devices["6128"].name == "Vaccine fridge - Pharmacy"
    assert [(c.name, c.quantity, c.unit) for c in devices["6131"].channels] == [
        ("Measure", "temperature", "C"),
        ("MeasureHum", "humidity", "%RH"),
    ]
    assert [c.name for c in devices["6128"].channels] == ["Measure"]
    assert devices["9409"].kind == "vehicle"
    assert [c.quantity for c in devices["9409"].channels] == ["temperature", "humidity"]
    assert {d.kind for vid, d in devices.items() if vid != "9409"} == {"fixed"}


# -- history ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_full_week_of_every_device_equals_the_truth(make_client, simulator, fmt):
    client = make_client(fmt)
    for info in client.devices():
        records = list(client.history(info, WEEK_START, WEEK_END))
        readings, positions = truth(simulator, info.vendor_id, WEEK_START, WEEK_END)
        assert readings_of(records) == readings, info.vendor_id
        assert positions_of(records) == positions, info.vendor_id
        assert len(records) == len(readings) + len(positions)  # each record exactly once
        assert all(WEEK_START <= r.timestamp <= WEEK_END for r in records)
    assert all(total <= 1000 for total in simulator.totals[-1:])


def test_reading_again_gives_the_same_records(make_client):
    client = make_client("xml")
    since = FIXED_NOW - timedelta(days=2)
    first = list(client.history(device("9409", "vehicle"), since, FIXED_NOW))
    again = list(client.history(device("9409", "vehicle"), since, FIXED_NOW))
    assert len(first) == 3 * 2 * 288
    assert first == again


def test_it_splits_windows_until_each_holds_at_most_1000_records(make_client, simulator):
    client = make_client("json")
    records = list(client.readings(device("6132"), WEEK_START, WEEK_END))
    assert len(records) == 7 * 1440
    assert readings_of(records) == truth(simulator, "6132", WEEK_START, WEEK_END)[0]
    # The first ask says how many there are; every window kept held at most 1,000.
    assert simulator.totals[0] == len(records)
    kept = simulator.totals[1:]
    assert len(kept) >= 11 and all(total <= 1000 for total in kept)
    assert sum(kept) == simulator.totals[0]


def test_it_splits_again_a_window_that_is_still_too_full(make_client, simulator):
    # The period starts a day before the world's first reading, so the first cut (by the average rate)
    # leaves windows over the limit; a small limit on both sides keeps it quick.
    simulator.max_records = 40
    client = make_client("xml")
    client.record_limit = 40
    since, until = datetime(2024, 12, 31, tzinfo=UTC), datetime(2025, 1, 1, 12, tzinfo=UTC)
    records = list(client.history(device("9409", "vehicle"), since, until))
    readings, positions = truth(simulator, "9409", since, until)
    assert len(positions) == 144
    assert readings_of(records) == readings and positions_of(records) == positions
    too_full = [total for total in simulator.totals if total > 40]
    kept = [total for total in simulator.totals if total <= 40]
    assert len(too_full) >= 2  # the first ask, and at least one window cut again
    assert sum(kept) == simulator.totals[0]


def test_a_period_is_read_inclusive_of_both_ends(make_client, simulator):
    stamps = [r.timestamp for r in simulator.truth_readings("6128", WEEK_START, WEEK_END)]
    since, until = stamps[10], stamps[20]
    records = list(make_client().readings(device("6128"), since, until))
    assert [r.timestamp for r in records] == stamps[10:21]


def test_a_failed_sensor_gives_a_reading_with_the_vendor_error_and_no_value(make_client, simulator):
    records = list(make_client("xml").readings(device("6130"), WEEK_START, WEEK_END))
    errors = [r for r in records if r.error]
    assert errors and all(r.value is None and r.error == SENSOR_ERROR_VALUE for r in errors)
    assert readings_of(records) == truth(simulator, "6130", WEEK_START, WEEK_END)[0]


def test_positions_come_only_from_equipment_that_has_coordinates(make_client):
    client = make_client()
    truck = list(client.positions(device("9409", "vehicle"), WEEK_START, WEEK_END))
    assert len(truck) == 7 * 288 and all(p.speed_kmh is None for p in truck)
    assert all(45 < p.latitude < 51 and 2 < p.longitude < 5 for p in truck)  # Lyon, Paris, Lille
    assert list(client.positions(device("6131"), WEEK_START, WEEK_END)) == []


def test_humidity_is_read_only_where_there_is_a_probe(make_client):
    client = make_client("xml")
    assert {r.channel for r in client.readings(device("6131"), WEEK_START, WEEK_END)} == {
        "Measure",
        "MeasureHum",
    }
    assert {r.channel for r in client.readings(device("6129"), WEEK_START, WEEK_END)} == {"Measure"}


def test_it_always_asks_with_post_and_never_puts_the_key_in_a_url(make_client, simulator):
    client = make_client("xml")
    client.devices()
    list(client.history(device("6131"), WEEK_START, WEEK_END))
    key = simulator.credentials["api_key"]
    assert simulator.requests
    assert all(method == "POST" and path == "/API/post_api.php" for method, path, _ in simulator.requests)
    assert all(query == b"" and key.encode() not in query for _, _, query in simulator.requests)


# -- wall-clock time -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_both_readings_of_the_repeated_hour_are_kept_at_the_end_of_summer_time(
    make_client, simulator, set_world_clock, fmt
):
    set_world_clock(datetime(2026, 10, 26, tzinfo=UTC))
    since, until = datetime(2026, 10, 24, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC)
    client = make_client(fmt)
    for vendor_id in ("6128", "6132"):  # 10 minutes, and 1 minute (which needs several windows)
        records = list(client.readings(device(vendor_id), since, until))
        assert readings_of(records) == truth(simulator, vendor_id, since, until)[0]
        repeated = [
            r for r in records if r.timestamp.astimezone(PARIS).strftime("%Y-%m-%d %H") == "2026-10-25 02"
        ]
        walls = [r.timestamp.astimezone(PARIS).replace(tzinfo=None, fold=0) for r in repeated]
        per_hour = 6 if vendor_id == "6128" else 60
        assert len(repeated) == 2 * per_hour
        assert len({r.timestamp for r in repeated}) == 2 * per_hour  # distinct UTC times
        assert sorted(walls)[::2] == sorted(walls)[1::2]  # each wall-clock time twice
        hours = sorted({r.timestamp.hour for r in repeated})
        assert hours == [0, 1]  # 02:xx CEST is 00:xx UTC, 02:xx CET is 01:xx UTC


def test_the_repeated_hour_survives_windows_cut_inside_it(make_client, simulator, set_world_clock):
    # 120 readings in the repeated hour and a limit of 50: the hour itself must be cut.
    set_world_clock(datetime(2026, 10, 26, tzinfo=UTC))
    simulator.max_records = 50
    client = make_client("xml")
    client.record_limit = 50
    since, until = datetime(2026, 10, 24, 23, tzinfo=UTC), datetime(2026, 10, 25, 3, tzinfo=UTC)
    records = list(client.readings(device("6132"), since, until))
    assert readings_of(records) == truth(simulator, "6132", since, until)[0]
    kept = [total for total in simulator.totals if total <= 50]
    assert sum(kept) == simulator.totals[0] == len(records)


@pytest.mark.parametrize(
    "since, until",
    [
        # From the first pass of the repeated hour to the second pass of it.
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
        # Both ends in the second pass; both ends in the first pass.
        (datetime(2026, 10, 25, 1, 10, tzinfo=UTC), datetime(2026, 10, 25, 1, 40, tzinfo=UTC)),
        (datetime(2026, 10, 25, 0, 10, tzinfo=UTC), datetime(2026, 10, 25, 0, 40, tzinfo=UTC)),
        # Across the start of summer time (02:00-03:00 never happens).
        (datetime(2026, 3, 28, 22, tzinfo=UTC), datetime(2026, 3, 29, 4, tzinfo=UTC)),
    ],
)
def test_a_period_bounded_inside_a_clock_change_equals_the_truth(make_client, simulator, since, until):
    records = list(make_client().readings(device("6128"), since, until))
    assert records
    assert readings_of(records) == truth(simulator, "6128", since, until)[0]


def test_any_period_around_the_end_of_summer_time_equals_the_truth(make_client, simulator, set_world_clock):
    # Seeded random periods near the clock change, with a tiny limit so windows are cut everywhere.
    set_world_clock(datetime(2026, 10, 26, tzinfo=UTC))
    simulator.max_records = 7
    rng = random.Random(3)
    change = datetime(2026, 10, 25, 1, tzinfo=UTC)
    for fmt in ("json", "xml"):
        client = make_client(fmt)
        client.record_limit = 7
        for _ in range(6):
            since = change + timedelta(seconds=rng.randint(-3 * 3600, 2 * 3600))
            until = since + timedelta(seconds=rng.randint(0, 3 * 3600))
            vendor_id = rng.choice(["6128", "6132", "9409"])
            records = list(client.readings(device(vendor_id), since, until))
            assert readings_of(records) == truth(simulator, vendor_id, since, until)[0], (
                vendor_id,
                since,
                until,
            )


def test_wall_clock_times_follow_the_account_time_zone(make_client, simulator):
    # The same answers read as UTC wall-clock time land an hour off: the time zone is applied.
    client = make_client()
    client_utc = ThermotrackClient(
        base_url=client.base_url, credentials=simulator.credentials, timezone="UTC", response_format="json"
    )
    since, until = FIXED_NOW - timedelta(hours=6), FIXED_NOW - timedelta(hours=3)
    paris = [r.timestamp for r in client.readings(device("6128"), since, until)]
    shifted = [
        r.timestamp
        for r in client_utc.readings(device("6128"), since + timedelta(hours=1), until + timedelta(hours=1))
    ]
    assert paris and [t + timedelta(hours=1) for t in paris] == shifted


# -- faults and errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "faults, error",
    [
        ({"error_rate": 1}, UnavailableError),
        ({"burst_429": 1}, RateLimited),
        ({"malformed_rate": 1}, ParseError),
        ({"truncated_rate": 1}, ParseError),
        ({"credentials": "revoked"}, AuthenticationError),
        ({"credentials": "expired"}, AuthenticationError),
    ],
)
def test_each_fault_ends_in_the_right_error(make_client, simulator, faults, error, fmt):
    simulator.faults.update(**faults)
    client = make_client(fmt)
    with pytest.raises(error):
        client.devices()
    simulator.faults.reset()
    simulator.faults.update(**faults)
    with pytest.raises(error):
        list(client.history(device("6131"), WEEK_START, WEEK_END))


def test_a_hanging_server_ends_in_a_timeout(make_client, simulator):
    simulator.faults.update(hang_rate=1, hang_seconds=1.5)
    client = make_client()
    client.read_timeout = 0.5
    with pytest.raises(VendorTimeout):
        client.devices()


def test_an_unreachable_server_is_unavailable(simulator):
    client = ThermotrackClient(base_url="http://127.0.0.1:9", credentials={"api_key": "k" * 16})
    with pytest.raises(UnavailableError):
        client.devices()


def test_an_unknown_equipment_is_a_refused_request(make_client):
    with pytest.raises(RequestRefused) as caught:
        list(make_client("xml").history(device("999"), WEEK_START, WEEK_END))
    assert "Unknown equip_id" in str(caught.value)
    assert caught.value.status == 400


@pytest.mark.django_db
def test_a_429_makes_every_worker_of_the_account_wait(make_client, simulator):
    from vendors.ratelimit import RateLimiter

    limiter = RateLimiter()
    client = make_client(rate_limiter=limiter, account_key="7")
    simulator.faults.update(burst_429=1)
    with pytest.raises(RateLimited):
        client.devices()
    assert limiter.blocked_for("thermotrack:7") > 0


def test_a_wrong_format_or_a_missing_key_is_refused_before_any_request():
    with pytest.raises(ValueError):
        ThermotrackClient(credentials={"api_key": "k" * 16}, response_format="csv")
    with pytest.raises(AuthenticationError):
        ThermotrackClient(credentials={})
    assert (
        ThermotrackClient(credentials={"api_key": "k" * 16}).base_url
        == "https://www.thermotrack-webserve.com"
    )


# -- hostile or odd answers ------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Detail-Response><data><Equipment><IDEquipment>1</IDEquipment><EquipmentName>&lol4;</EquipmentName></Equipment></data></Detail-Response>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Detail-Response><data><Equipment><IDEquipment>1</IDEquipment><EquipmentName>&xxe;</EquipmentName></Equipment></data></Detail-Response>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Detail-Response SYSTEM "http://127.0.0.1:9/evil.dtd">
<Detail-Response><data></data></Detail-Response>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD])
def test_xml_attacks_are_refused(make_client, simulator, payload):
    simulator.payload = Response(payload, mimetype="application/xml")
    with pytest.raises(ParseError):
        make_client("xml").devices()
    with pytest.raises(ParseError):
        list(make_client("xml").history(device("6128"), WEEK_START, WEEK_END))


@pytest.mark.parametrize(
    "body",
    [
        b'{"TotalRecord": 2, "records": [{"DateTime": "2026-11-19 10:00:00", "Measure": "4.1"}]}',
        b'{"TotalRecord": "many", "records": []}',
        b'{"records": []}',
        b'{"TotalRecord": 1, "records": [{"Measure": "4.1"}]}',
        b'{"TotalRecord": 1, "records": [{"DateTime": "yesterday", "Measure": "4.1"}]}',
        b'{"TotalRecord": 1, "records": "none"}',
        b"[1, 2]",
        b'{"error": "Database unavailable"}',
    ],
)
def test_an_answer_of_the_wrong_shape_is_a_parse_error(make_client, simulator, body):
    simulator.payload = Response(body, mimetype="application/json")
    with pytest.raises(ParseError):
        list(make_client().history(device("6128"), WEEK_START, WEEK_END))


def test_numbers_as_numbers_and_odd_values_are_read_defensively(make_client, simulator):
    simulator.payload = Response(
        b'{"TotalRecord": 4, "records": ['
        b'{"DateTime": "2026-11-19 10:00:00", "Measure": 4.5, "MeasureHum": 61, "Extra": "x"},'
        b'{"DateTime": "2026-11-19 10:10:00", "Measure": "NaN", "MeasureHum": ""},'
        b'{"DateTime": "2026-11-19 10:20:00", "Measure": " -3.25 ", "MeasureHum": "Err",'
        b' "Longitude": "", "Latitude": ""},'
        b'{"DateTime": "2026-11-19 10:30:00", "Measure": "5,5", "Longitude": 4.8357, "Latitude": "45.764"}'
        b"]}",
        mimetype="application/json",
    )
    records = list(make_client().history(device("6131"), WEEK_START, WEEK_END))
    at = datetime(2026, 11, 19, 9, tzinfo=UTC)
    assert records == [
        ReadingRecord("6131", "Measure", at, 4.5),
        ReadingRecord("6131", "MeasureHum", at, 61.0),
        ReadingRecord("6131", "Measure", at + timedelta(minutes=10), None, "NaN"),
        ReadingRecord("6131", "Measure", at + timedelta(minutes=20), -3.25),
        ReadingRecord("6131", "MeasureHum", at + timedelta(minutes=20), None, "Err"),
        ReadingRecord("6131", "Measure", at + timedelta(minutes=30), 5.5),
        PositionRecord("6131", at + timedelta(minutes=30), 45.764, 4.8357, None),
    ]


# -- secrets ---------------------------------------------------------------------------------------


def test_no_secret_appears_in_errors_or_logs(make_client, simulator, caplog):
    caplog.set_level(logging.DEBUG)
    key = simulator.credentials["api_key"]
    messages = []
    client = make_client("xml")
    client.devices()
    list(client.history(device("6132"), FIXED_NOW - timedelta(days=2), FIXED_NOW))  # several windows
    for faults in ({"error_rate": 1}, {"burst_429": 1}, {"malformed_rate": 1}, {"credentials": "revoked"}):
        for fmt in ("json", "xml"):
            simulator.faults.reset()
            simulator.faults.update(**faults)
            with pytest.raises(VendorError) as caught:
                make_client(fmt).devices()
            messages.append(str(caught.value))
    simulator.faults.reset()
    # A server that echoes the key back in its error message.
    simulator.payload = Response(
        f'{{"error": "Invalid API key {key}"}}', status=401, mimetype="application/json"
    )
    with pytest.raises(AuthenticationError) as caught:
        make_client().devices()
    messages.append(str(caught.value))
    simulator.payload = Response(
        f"<Detail-Response><error>key {key} refused</error></Detail-Response>",
        status=400,
        mimetype="application/xml",
    )
    with pytest.raises(RequestRefused) as caught:
        make_client("xml").devices()
    messages.append(str(caught.value))
    assert "***" in messages[-1] and "***" in messages[-2]
    assert all(key not in message for message in messages)
    assert key not in caplog.text
    assert key not in repr(client)
