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
from vendors.clients.records import PositionRecord, ReadingRecord
from vendors.clients.trackgps import HISTORY_WINDOW, LANG, TrackGPSClient, parse_measurement
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
    assert list(devices) == ["1001", "1002", "1003", "1004"]
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


def test_drivers_are_attached_to_the_vehicles_they_are_linked_to(client):
    drivers = {d.vendor_id: d.driver for d in client.devices()}
    assert drivers == {"1001": "Budi Santoso", "1002": "Agus Wibowo", "1003": "Siti Rahayu", "1004": None}


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
        ("82 %", (82.0, "")),
        (7, (7.0, "")),
        ("ERR", (None, "ERR")),
        ("nan", (None, "nan")),
        (float("inf"), (None, "inf")),
        (None, (None, "null")),
        ("", (None, "")),
        (True, (None, "True")),
    ],
)
def test_a_measurement_that_is_not_a_finite_number_is_a_sensor_error(raw, expected):
    assert parse_measurement(raw) == expected


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
