"""The Thingsee client against the Thingsee simulator, over real HTTP."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.conftest import FIXED_NOW
from vendors.clients.base import MemorySessionStore
from vendors.clients.errors import (
    AuthenticationError,
    ParseError,
    RateLimited,
    RequestRefused,
    UnavailableError,
    VendorError,
    VendorTimeout,
)
from vendors.clients.records import ReadingRecord
from vendors.clients.thingsee import (
    ThingseeClient,
    installation_status,
    is_deleted,
    parse_group_things,
    parse_measurement,
    split_window,
)
from vendors.simulators import SimulatorServer
from vendors.simulators.thingsee import (
    DELETED_GROUP,
    RETIRED_AT,
    RETIRED_THING,
    SENSOR_ERROR_VALUE,
    ThingseeSimulator,
)

COLD_ROOM = "XXXX03X2Z74162459"
FREEZER = "XXXX03X2Z74162947"
AMBIENT = "XXXX04X1N73261481"
LAB_FRIDGE = "XXXX03X2Z74163012"
SPARE = "XXXX03X2Z74163586"
SINCE = FIXED_NOW - timedelta(days=3)


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class SimulatorSlot:
    """Stands in the server for the current test's simulator: one server per module (stopping one takes
    half a second), a fresh simulator with fresh state for every test."""

    slug = "thingsee"
    current: ThingseeSimulator | None = None

    def __call__(self, environ, start_response):
        return self.current(environ, start_response)


@pytest.fixture(scope="module")
def server():
    slot = SimulatorSlot()
    server = SimulatorServer([slot]).start()
    yield server, slot
    server.stop()


@pytest.fixture
def token_clock():
    return FakeClock()


@pytest.fixture
def sim(world, token_clock, server):
    simulator = ThingseeSimulator(world=world, token_clock=token_clock)
    server[1].current = simulator
    return simulator


@pytest.fixture
def make_client(sim, server):
    def make(**kwargs) -> ThingseeClient:
        kwargs.setdefault("credentials", sim.credentials)
        return ThingseeClient(base_url=server[0].base_url("thingsee"), timezone=sim.timezone, **kwargs)

    return make


@pytest.fixture
def client(make_client):
    return make_client()


def as_truth(records):
    return [(r.device_id, r.channel, r.timestamp, r.value, r.error) for r in records]


def truth(sim, device_id, since=SINCE, until=FIXED_NOW):
    return as_truth(sim.truth_readings(device_id, since, until))


def sorted_readings(records):
    return sorted(as_truth(records), key=lambda r: (r[2], r[1]))


# -- a full sync ---------------------------------------------------------------------------------


def test_it_finds_every_thing_through_the_deployment_groups(client, sim):
    devices = client.devices()
    assert sorted(devices, key=lambda d: d.vendor_id) == sorted(
        sim.truth_devices(), key=lambda d: d.vendor_id
    )
    by_id = {d.vendor_id: d for d in devices}
    assert by_id[COLD_ROOM].group == "pharmacy-cold-room"
    assert by_id[FREEZER].group == by_id[AMBIENT].group == "warehouse-a"
    assert by_id[SPARE].group is None and by_id[SPARE].installation_status == "new"
    assert by_id[SPARE].battery == 7
    assert by_id[COLD_ROOM].installation_status == "installed"
    assert [c.name for c in by_id[COLD_ROOM].channels] == ["temp", "humd"]
    assert [(c.quantity, c.unit) for c in by_id[COLD_ROOM].channels] == [
        ("temperature", "C"),
        ("humidity", "%RH"),
    ]
    assert all(d.kind == "fixed" for d in devices)
    assert (
        abs(by_id[LAB_FRIDGE].latitude - 65.0131) < 0.001
        and abs(by_id[LAB_FRIDGE].longitude - 25.4641) < 0.001
    )
    assert by_id[COLD_ROOM].extra["gateway_tuid"] == "XXXX00X1O73360355"


def test_a_deleted_group_is_skipped_and_a_retired_thing_is_understood(client, sim):
    listed = client.groups(include_deleted=True)
    assert {"group_id": DELETED_GROUP[0], "group_description": DELETED_GROUP[1], "deleted": True} in listed
    assert DELETED_GROUP[0] not in [g["group_id"] for g in client.groups()]
    # The deleted group still answers the tuid it held; a client reading it would file the thing there.
    assert client.group_things(DELETED_GROUP[0]) == [RETIRED_THING]
    retired = next(d for d in client.devices() if d.vendor_id == RETIRED_THING)
    assert retired.group is None and retired.installation_status == "retired"
    assert retired.last_seen < datetime.fromtimestamp(RETIRED_AT, UTC)
    records = list(client.history(retired, SINCE, FIXED_NOW))
    assert records and max(r.timestamp for r in records) < datetime.fromtimestamp(RETIRED_AT, UTC)
    assert sorted_readings(records) == sorted(truth(sim, RETIRED_THING), key=lambda r: (r[2], r[1]))


def test_a_full_history_of_every_thing_equals_the_truth(client, sim):
    for device in client.devices():
        records = list(client.history(device, SINCE, FIXED_NOW))
        assert all(isinstance(r, ReadingRecord) for r in records)
        assert all(SINCE <= r.timestamp <= FIXED_NOW and r.timestamp.tzinfo is not None for r in records)
        expected = truth(sim, device.vendor_id)
        assert len(records) == len(expected) > 0
        assert sorted_readings(records) == sorted(expected, key=lambda r: (r[2], r[1]))


def test_reading_again_gives_the_same_records(client):
    device = next(d for d in client.devices() if d.vendor_id == AMBIENT)
    assert list(client.history(device, SINCE, FIXED_NOW)) == list(client.history(device, SINCE, FIXED_NOW))


def test_a_failed_sensor_is_an_error_code_never_a_temperature(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == AMBIENT)
    since = FIXED_NOW - timedelta(days=7)
    errors = [r for r in client.history(device, since, FIXED_NOW) if r.error]
    assert errors and all(
        r.value is None and r.error == SENSOR_ERROR_VALUE and r.channel == "temp" for r in errors
    )
    assert len(errors) == sum(1 for r in sim.truth_readings(AMBIENT, since, FIXED_NOW) if r.error)


@pytest.mark.parametrize(
    "raw, expected",
    [
        (21.5, (21.5, "")),
        ("21.5", (21.5, "")),
        (-20, (-20.0, "")),
        ("ERROR", (None, "ERROR")),
        ("NaN", (None, "NaN")),
        (float("inf"), (None, "inf")),
        (None, (None, "null")),
        (True, (None, "true")),
    ],
)
def test_a_measurement_is_a_finite_number_or_an_error_code(raw, expected):
    assert parse_measurement(raw) == expected


def test_a_period_between_whole_seconds_keeps_only_readings_inside_it(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == FREEZER)
    since, until = SINCE + timedelta(microseconds=500), FIXED_NOW - timedelta(hours=5, microseconds=1)
    records = list(client.history(device, since, until))
    assert all(since <= r.timestamp <= until for r in records)
    assert len(records) == len(sim.truth_readings(FREEZER, since, until))


def test_alerts_equal_the_truth_with_wall_clock_times_of_helsinki(client, sim):
    since = datetime(2026, 10, 20, tzinfo=UTC)  # across the end of summer time (25 October)
    alerts = client.alerts(since, FIXED_NOW)
    expected = sim.truth_alerts(since, FIXED_NOW)
    assert sorted(alerts, key=lambda a: a.vendor_alert_id) == sorted(
        expected, key=lambda a: a.vendor_alert_id
    )
    types = {a.alert_type for a in alerts}
    assert types == {"temperature high", "heartbeat missed", "battery low"}
    battery = next(a for a in alerts if a.alert_type == "battery low")
    assert battery.started_at == datetime(2025, 1, 1, tzinfo=UTC) and battery.ended_at is None
    failure = next(a for a in alerts if a.alert_type == "temperature high")
    window = sim.world.failure_windows(
        sim.device(LAB_FRIDGE), int(since.timestamp()), int(FIXED_NOW.timestamp())
    )[0]
    assert failure.started_at == datetime.fromtimestamp(window[0], UTC)


def test_alert_ids_are_stable_across_syncs(client):
    first = client.alerts(FIXED_NOW - timedelta(days=5), FIXED_NOW)
    second = client.alerts(FIXED_NOW - timedelta(days=4), FIXED_NOW)
    ids = {a.vendor_alert_id for a in first}
    assert {a.vendor_alert_id for a in second} <= ids
    assert len(ids) == len(first)


# -- pagination ---------------------------------------------------------------------------------


def by_time(messages):
    return sorted(messages, key=lambda m: (m["tsmTs"], json.dumps(m, sort_keys=True)))


def test_messages_are_paged_until_the_period_is_complete(make_client, sim):
    client = make_client()
    client.page_size = 7
    device = next(d for d in client.devices() if d.vendor_id == COLD_ROOM)
    served = sim.requests_served
    records = list(client.history(device, SINCE, FIXED_NOW))
    assert sorted_readings(records) == sorted(truth(sim, COLD_ROOM), key=lambda r: (r[2], r[1]))
    assert sim.requests_served - served >= 432 // 7


@pytest.mark.parametrize("newest_first", [True, False], ids=["newest-first", "oldest-first"])
@pytest.mark.parametrize("page_size", [1, 2, 3, 4, 5, 6, 9, 37, 500])
def test_messages_sharing_a_second_survive_every_split_in_either_order(
    make_client, sim, page_size, newest_first
):
    sim.newest_first = newest_first
    client = make_client()
    client.page_size = page_size
    since = FIXED_NOW - timedelta(hours=13)
    got = list(client.messages(COLD_ROOM, since, FIXED_NOW))
    expected = sim.all_messages(sim.device(COLD_ROOM), int(since.timestamp()), int(FIXED_NOW.timestamp()))
    assert len({m["tsmTs"] for m in expected}) < len(expected)  # a 1110 and a 12100 at the same second
    assert got == by_time(expected)  # nothing skipped, nothing doubled, oldest first


def test_the_simulator_answers_newest_first_and_a_full_answer_is_the_newest(sim):
    device = sim.device(COLD_ROOM)
    start, end = int((FIXED_NOW - timedelta(days=1)).timestamp()), int(FIXED_NOW.timestamp())
    page = sim.messages(device, start, end, 10)
    assert [m["tsmTs"] for m in page] == sorted((m["tsmTs"] for m in page), reverse=True)
    assert page == list(reversed(sim.all_messages(device, start, end)))[:10]


@pytest.mark.parametrize("page_size", [5, 50, 500])
def test_both_orders_of_the_server_give_the_same_readings(world, server, page_size):
    results = []
    for newest_first in (True, False):
        simulator = ThingseeSimulator(world=world, newest_first=newest_first)
        server[1].current = simulator
        client = ThingseeClient(
            base_url=server[0].base_url("thingsee"), credentials=simulator.credentials, timezone="UTC"
        )
        client.page_size = page_size
        device = next(d for d in client.devices() if d.vendor_id == AMBIENT)
        results.append(sorted_readings(client.history(device, SINCE, FIXED_NOW)))
    assert results[0] == results[1] == sorted(truth(simulator, AMBIENT), key=lambda r: (r[2], r[1]))


def test_a_full_window_is_narrowed_and_only_short_windows_are_kept(make_client, sim):
    client = make_client()
    client.page_size = 50
    device = sim.device(FREEZER)
    since = FIXED_NOW - timedelta(days=2)
    got = list(client.messages(FREEZER, since, FIXED_NOW))
    assert got == by_time(sim.all_messages(device, int(since.timestamp()), int(FIXED_NOW.timestamp())))
    asked = sim.message_requests  # (from, to, limit, messages answered) of every request
    assert asked[0][3] == 50, "the first window was full and had to be narrowed"
    kept = [a for a in asked if a[3] < a[2]]
    # The windows answered in full cover the period without a second in common.
    covered = sorted((a[0] + 1, a[1] - 1) for a in kept)
    assert covered[0][0] <= int(since.timestamp()) and covered[-1][1] >= int(FIXED_NOW.timestamp())
    assert all(prev[1] + 1 == nxt[0] for prev, nxt in zip(covered, covered[1:], strict=False))
    assert len(asked) < 3 * len(got) // 50  # guided splits, not one second at a time


@pytest.mark.parametrize(
    ("first", "last", "seen"),
    [
        (0, 1, [0, 1]),
        (0, 9, []),
        (100, 86_500, [86_000, 86_500]),
        (5, 5_000_005, [5]),
        (0, 99, list(range(100))),
    ],
)
def test_a_window_splits_into_parts_that_cover_it_and_share_no_second(first, last, seen):
    parts = split_window(first, last, seen)
    assert len(parts) >= 2
    assert parts[0][0] == first and parts[-1][1] == last
    assert all(a <= b for a, b in parts)
    assert all(prev[1] + 1 == nxt[0] for prev, nxt in zip(parts, parts[1:], strict=False))


# -- the real shapes of Haltian's own app (haltian/Thingsee-Toolbox, lib/protocol/*.dart) ---------

TOOLBOX_GROUP_THINGS = {
    "data": {"group_id": "warehouse-a", "tuids": ["XXXX03X2Z74162947", "XXXX04X1N73261481"]}
}
TOOLBOX_GROUPS = {
    "data": [
        {"group_id": "warehouse-a", "group_description": "Warehouse A", "deleted": False},
        {"group_id": "old-store", "group_description": None, "deleted": True},
        {"group_id": "lab"},
    ]
}
TOOLBOX_ERROR = {"statusCode": 404, "error": "Not Found", "message": "Group nowhere not found"}


def test_group_things_in_the_toolbox_shape_and_in_the_older_shape():
    assert parse_group_things(TOOLBOX_GROUP_THINGS["data"]) == ["XXXX03X2Z74162947", "XXXX04X1N73261481"]
    assert parse_group_things({"group_id": "empty", "tuids": []}) == []
    assert parse_group_things({"group_id": "empty"}) == []
    assert parse_group_things([{"tuid": "XXXX03X2Z74162947"}, {"nothing": 1}]) == ["XXXX03X2Z74162947"]
    with pytest.raises(ParseError):
        parse_group_things({"group_id": "x", "tuids": "XXXX03X2Z74162947"})
    with pytest.raises(ParseError):
        parse_group_things("XXXX03X2Z74162947")


def test_deleted_groups_in_the_toolbox_shape_are_recognised():
    assert [is_deleted(g) for g in TOOLBOX_GROUPS["data"]] == [False, True, False]
    assert is_deleted({"deleted": "true"}) and is_deleted({"deleted": 1}) and not is_deleted({"deleted": "0"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("retired", "retired"),
        ("Installed", "installed"),
        ("quarantine", "quarantine"),
        ("exploded", None),
        (7, None),
    ],
)
def test_installation_statuses_are_the_vendors_words(raw, expected):
    assert installation_status(raw) == expected


def _response(status: int, body) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    return response


@pytest.mark.parametrize(
    "body",
    [TOOLBOX_ERROR, {"error": {"code": 404, "message": "Group nowhere not found"}}],
    ids=["toolbox-shape", "older-shape"],
)
def test_the_vendors_error_message_is_read_in_either_shape(body):
    client = ThingseeClient(
        base_url="http://127.0.0.1:9", credentials={"client_id": "a", "client_secret": "b"}
    )
    assert client.error_message(_response(404, body)) == "Group nowhere not found"
    assert client.error_message(_response(500, {"statusCode": 500, "error": "Internal Server Error"})) == (
        "Internal Server Error"
    )


def test_a_refusal_carries_the_message_of_the_real_error_shape(client):
    with pytest.raises(RequestRefused) as excinfo:
        client.group_things("nowhere")
    assert excinfo.value.status == 404 and "Group nowhere not found" in str(excinfo.value)


# -- tokens --------------------------------------------------------------------------------------


def test_the_token_is_kept_with_its_expiry_and_reused(client, sim):
    client.devices()
    client.devices()
    assert sim.tokens_issued == 1
    session = client.session_store.load()
    assert set(session) == {"token", "expires_at"}
    assert 0 < session["expires_at"] - time.time() <= 15 * 60


def test_clients_sharing_a_session_store_share_one_token(make_client, sim):
    store = MemorySessionStore()
    make_client(session_store=store).devices()
    make_client(session_store=store).devices()
    assert sim.tokens_issued == 1


def test_a_token_close_to_its_expiry_is_renewed_before_use(make_client, sim):
    store = MemorySessionStore()
    make_client(session_store=store).devices()
    store.save({**store.load(), "expires_at": time.time() + 30})
    make_client(session_store=store).devices()
    assert sim.tokens_issued == 2
    assert store.load()["expires_at"] > time.time() + 15 * 60 - 10


def test_a_token_expiring_mid_sync_is_renewed_once_and_the_sync_completes(client, sim, token_clock):
    client.page_size = 50
    device = next(d for d in client.devices() if d.vendor_id == COLD_ROOM)
    records = []
    for record in client.history(device, SINCE, FIXED_NOW):
        if len(records) == 10:
            token_clock.now += 15 * 60  # the real quarter of an hour passes mid-sync
        records.append(record)
    assert sorted_readings(records) == sorted(truth(sim, COLD_ROOM), key=lambda r: (r[2], r[1]))
    assert sim.tokens_issued == 2


def test_an_expired_credentials_fault_costs_one_new_token(client, sim):
    client.devices()
    sim.faults.update(credentials="expired")
    assert len(client.devices()) == 6
    assert sim.tokens_issued == 2


def test_a_second_401_is_an_authentication_error(world, server, make_client):
    sim = ThingseeSimulator(world=world, token_lifetime=0)  # every token is stale at once
    server[1].current = sim
    with pytest.raises(AuthenticationError) as excinfo:
        make_client().devices()
    assert excinfo.value.permanent and excinfo.value.status == 401
    assert sim.tokens_issued == 2


def test_revoked_credentials_are_an_authentication_error(client, sim):
    sim.faults.update(credentials="revoked")
    with pytest.raises(AuthenticationError):
        client.devices()


def test_wrong_credentials_are_an_authentication_error(make_client, sim):
    with pytest.raises(AuthenticationError):
        make_client(credentials={**sim.credentials, "client_secret": "not-the-secret"}).devices()


def test_missing_credentials_or_base_url_are_refused_at_once(sim):
    with pytest.raises(AuthenticationError):
        ThingseeClient(credentials={"client_id": "someone"})
    with pytest.raises(RequestRefused):
        ThingseeClient(credentials=sim.credentials).devices()


# -- group and installation operations -----------------------------------------------------------


def test_groups_are_created_renamed_and_deleted_and_later_reads_see_it(client):
    assert client.create_group("cold-store-2", "Second cold store") == {
        "group_id": "cold-store-2",
        "group_description": "Second cold store",
    }
    assert client.move_thing(SPARE, "cold-store-2") == {"group_id": "cold-store-2", "tuid": SPARE}
    assert {d.vendor_id: d.group for d in client.devices()}[SPARE] == "cold-store-2"
    assert client.rename_group("cold-store-2", "cold-store-3") == {
        "group_id": "cold-store-3",
        "old": "cold-store-2",
        "renamed": True,
    }
    assert client.thing_group(SPARE)["group_id"] == "cold-store-3"
    assert client.group_things("cold-store-3") == [SPARE]
    assert client.delete_group("cold-store-3") == {"group_id": "cold-store-3", "deleted": True}
    assert {d.vendor_id: d.group for d in client.devices()}[SPARE] is None
    assert "cold-store-3" not in [g["group_id"] for g in client.groups()]


@pytest.mark.parametrize("group_id, words", [("cold store", "whitespace"), ("unassigned", "unassigned")])
def test_a_refused_group_id_raises_with_the_vendors_message(client, group_id, words):
    with pytest.raises(RequestRefused) as excinfo:
        client.create_group(group_id)
    assert words in str(excinfo.value) and excinfo.value.status == 400
    with pytest.raises(RequestRefused) as excinfo:
        client.rename_group("warehouse-a", group_id)
    assert words in str(excinfo.value)
    assert {g["group_id"] for g in client.groups()} == {"lab-fridges", "pharmacy-cold-room", "warehouse-a"}


def test_an_unknown_group_is_refused(client):
    with pytest.raises(RequestRefused) as excinfo:
        client.rename_group("nowhere", "somewhere")
    assert excinfo.value.status == 404 and "nowhere" in str(excinfo.value)
    with pytest.raises(RequestRefused):
        client.delete_group("nowhere")


def test_installation_status_is_set_and_its_history_read(client):
    assert client.set_installation_status(COLD_ROOM, "quarantine") == {
        "tuid": COLD_ROOM,
        "installation_status": "quarantine",
    }
    history = client.installation_history(COLD_ROOM)
    assert [h["installation_status"] for h in history] == ["quarantine", "installed", "new"]
    assert {d.vendor_id: d.installation_status for d in client.devices()}[COLD_ROOM] == "quarantine"
    with pytest.raises(RequestRefused) as excinfo:
        client.set_installation_status(COLD_ROOM, "broken")
    assert "installation_status" in str(excinfo.value)


# -- faults --------------------------------------------------------------------------------------


def test_server_errors_are_unavailable(client, sim):
    sim.faults.update(error_rate=1)
    with pytest.raises(UnavailableError) as excinfo:
        client.devices()
    assert excinfo.value.status in (500, 503) and not excinfo.value.permanent


@pytest.mark.django_db
def test_a_429_is_rate_limited_and_blocks_the_account_for_every_worker(make_client, sim):
    from vendors.ratelimit import RateLimiter

    limiter = RateLimiter()
    client = make_client(rate_limiter=limiter, account_key="acct-1")
    sim.faults.update(burst_429=1)
    with pytest.raises(RateLimited):
        client.devices()
    assert limiter.blocked_for("thingsee:acct-1") > 0


def test_malformed_answers_are_parse_errors(client, sim):
    sim.faults.update(malformed_rate=1)
    with pytest.raises(ParseError):
        client.devices()


def test_truncated_answers_are_parse_errors(client, sim):
    client.devices()
    sim.faults.update(truncated_rate=1)
    with pytest.raises(ParseError):
        client.devices()
    sim.faults.update(truncated_rate=0)
    assert len(client.devices()) == 6  # the same client works again once the fault is gone


def test_a_hanging_server_is_a_timeout(client, sim):
    client.read_timeout = 1
    sim.faults.update(hang_rate=1, hang_seconds=1.5)
    with pytest.raises(VendorTimeout):
        client.devices()


# -- secrets -------------------------------------------------------------------------------------


def test_no_secret_or_token_appears_in_logs_or_errors(make_client, sim, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client()
    device = client.devices()[0]
    list(client.history(device, FIXED_NOW - timedelta(hours=3), FIXED_NOW))
    client.alerts(FIXED_NOW - timedelta(days=1), FIXED_NOW)
    token = client.session_store.load()["token"]
    messages = []
    for fault in ({"credentials": "revoked"}, {"error_rate": 1}, {"malformed_rate": 1}, {"burst_429": 1}):
        sim.faults.reset()
        sim.faults.update(**fault)
        with pytest.raises(VendorError) as excinfo:
            client.devices()
        messages.append(str(excinfo.value))
    sim.faults.reset()
    with pytest.raises(RequestRefused) as excinfo:
        client.create_group("with space")
    messages.append(str(excinfo.value))
    with pytest.raises(AuthenticationError) as excinfo:
        make_client(credentials={**sim.credentials, "client_secret": "wrong-secret-1"}).devices()
    messages.append(str(excinfo.value))
    text = caplog.text + "\n".join(messages) + repr(client)
    for secret in [*sim.credentials.values(), token, "wrong-secret-1"]:
        assert secret not in text


# -- a full sync in the real shapes --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("newest_first", [True, False], ids=["newest-first", "oldest-first"])
def test_a_full_sync_in_the_real_shapes_equals_the_truth_and_a_resync_adds_nothing(
    world, serve, newest_first
):
    from monitoring.models import DeploymentGroup, Device
    from tests.factories import make_account
    from tests.test_sync import stored_readings, true_readings
    from vendors.sync import sync_account

    simulator = ThingseeSimulator(world=world, newest_first=newest_first)
    account = make_account(serve(simulator), "thingsee")
    result = sync_account(account, since=SINCE, until=FIXED_NOW)
    assert result.ok, result.errors
    truth = true_readings(simulator, SINCE, FIXED_NOW)
    assert stored_readings(account) == truth and result.readings == len(truth)
    devices = {d.vendor_id: d for d in Device.objects.filter(account=account).select_related("group")}
    assert set(devices) == {d.vendor_id for d in simulator.devices}
    assert devices[RETIRED_THING].installation_status == "retired" and devices[RETIRED_THING].group is None
    assert devices[FREEZER].group.vendor_group_id == "warehouse-a"
    assert not DeploymentGroup.objects.filter(account=account, vendor_group_id=DELETED_GROUP[0]).exists()
    again = sync_account(account, since=SINCE, until=FIXED_NOW)
    assert again.ok and again.readings == 0 and stored_readings(account) == truth


class HostileThingsee:
    """A vendor that answers ``limit`` messages of one fixed second to every question, in or out of the
    period asked (``inside``: at the start of the period asked, so the window is really full)."""

    slug = "thingsee"

    def __init__(self, inside: bool):
        self.inside = inside
        self.requests = 0

    def __call__(self, environ, start_response):
        from urllib.parse import parse_qs

        from werkzeug.wrappers import Response

        self.requests += 1
        if environ["PATH_INFO"].endswith("/auth/client-token"):
            body = {"data": {"token": "hostile-token"}}
        else:
            query = parse_qs(environ["QUERY_STRING"])
            limit, start = int(query["limit"][0]), int(query["from"][0])
            second = start + 1 if self.inside else 1_000_000_000
            body = {"data": [{"tsmId": 12100, "tsmTs": second, "temp": 4.0} for _ in range(limit)]}
        return Response(json.dumps(body), mimetype="application/json")(environ, start_response)


@pytest.mark.parametrize("inside", [False, True], ids=["out-of-period", "one-crowded-second"])
def test_a_vendor_whose_answers_never_fit_is_a_parse_error_soon(serve, inside):
    hostile = HostileThingsee(inside)
    client = ThingseeClient(
        base_url=serve(hostile).base_url("thingsee"), credentials={"client_id": "a", "client_secret": "b"}
    )
    client.page_size = 5
    with pytest.raises(ParseError):
        list(client.messages("XXXX03X2Z74162459", FIXED_NOW - timedelta(days=1), FIXED_NOW))
    assert hostile.requests < 20
