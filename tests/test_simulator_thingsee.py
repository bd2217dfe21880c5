"""The Thingsee simulator answers as thingsee.txt and docs/vendors.md say, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.conftest import FIXED_NOW
from vendors.simulators import Faults, SimulatorServer, World
from vendors.simulators.thingsee import (
    ALLOWED_COMMAND_IDS,
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
OLD_STORE = DELETED_GROUP[0]
NOW = int(FIXED_NOW.timestamp())
HELSINKI = ZoneInfo("Europe/Helsinki")


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def sim(world, clock):
    return ThingseeSimulator(world=world, token_clock=clock)


class SimulatorSlot:
    """Stands in the server for whichever simulator the current test made: one server for the module
    (stopping a server takes half a second), a fresh simulator (fresh state) for every test."""

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
def api(sim, server):
    """A tiny HTTP helper with a fresh token: ``api.get(path, **params)`` etc."""
    running, slot = server
    slot.current = sim
    base = running.base_url("thingsee")

    class Api:
        url = base

        def __init__(self):
            self.token = self.login().json()["data"]["token"]

        def login(self, body=None):
            return requests.post(f"{base}/auth/client-token", json=sim.credentials if body is None else body)

        def headers(self, token=None):
            return {"Authorization": f"Bearer {token or self.token}"}

        def get(self, path, token=None, **params):
            return requests.get(f"{base}{path}", params=params, headers=self.headers(token), timeout=10)

        def post(self, path, body, token=None):
            return requests.post(f"{base}{path}", json=body, headers=self.headers(token), timeout=10)

        def delete(self, path, token=None):
            return requests.delete(f"{base}{path}", headers=self.headers(token), timeout=10)

    return Api()


def assert_error(response, status):
    """Errors in the shape Haltian's own app reads (docs/vendors.md [C]):
    ``{"statusCode", "error", "message"}``."""
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"statusCode", "error", "message"}
    assert body["statusCode"] == status and isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str) and body["message"]
    return body["message"]


# -- authentication ------------------------------------------------------------------------------


def test_it_gives_a_token_for_the_client_credentials(api, sim):
    response = api.login()
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    token = response.json()["data"]["token"]
    assert isinstance(token, str) and len(token) > 20
    assert set(sim.credentials) == {"client_id", "client_secret"}
    assert all(len(value) >= 12 for value in sim.credentials.values())


def test_it_refuses_wrong_or_missing_credentials(api, sim):
    assert_error(api.login({"client_id": sim.credentials["client_id"], "client_secret": "wrong-secret"}), 401)
    assert_error(api.login({"client_id": sim.credentials["client_id"]}), 400)
    bad = requests.post(
        f"{api.url}/auth/client-token", data=b"not json", headers={"Content-Type": "application/json"}
    )
    assert_error(bad, 400)
    assert_error(requests.get(f"{api.url}/auth/client-token"), 405)


def test_its_error_messages_never_echo_the_secret(api, sim):
    response = api.login(
        {"client_id": sim.credentials["client_id"], "client_secret": sim.credentials["client_secret"] + "x"}
    )
    assert sim.credentials["client_secret"] not in response.text


def test_it_keeps_several_tokens_live_at_once(api, sim):
    first, second = api.token, api.login().json()["data"]["token"]
    assert first != second
    assert api.get("/things/alerts", token=first).status_code == 200
    assert api.get("/things/alerts", token=second).status_code == 200
    assert sim.tokens_issued == 2


def test_a_token_expires_after_fifteen_minutes_of_real_time(api, clock):
    clock.now += 15 * 60 - 1
    assert api.get("/things/alerts").status_code == 200
    clock.now += 1
    assert_error(api.get("/things/alerts"), 401)
    fresh = api.login().json()["data"]["token"]
    assert api.get("/things/alerts", token=fresh).status_code == 200


def test_it_refuses_requests_without_a_valid_token(api):
    assert_error(requests.get(f"{api.url}/things/alerts"), 401)
    assert_error(api.get("/things/alerts", token="not-a-real-token"), 401)
    assert_error(requests.get(f"{api.url}/groups/", headers={"Authorization": "Basic abc"}), 401)


# -- things --------------------------------------------------------------------------------------


def test_it_lists_the_tuids_with_active_alerts_and_their_count_as_a_string(api):
    alerting = api.get("/things/alerts").json()["data"]["alerting_tuids"]
    assert SPARE in alerting  # its battery is flat
    count = api.get("/things/alerts/count").json()["data"]["alert_count"]
    assert count == str(len(alerting))


def test_it_gives_the_general_information_of_a_thing(api, sim):
    data = api.get(f"/things/{COLD_ROOM}").json()["data"]
    assert set(data) == {"battery_level", "timestamp", "location", "gateway_tuid", "version"}
    assert isinstance(data["battery_level"], int) and 0 < data["battery_level"] <= 100
    assert NOW - 600 < data["timestamp"] <= NOW
    assert (
        abs(float(data["location"]["lat"]) - 60.17) < 0.01
        and abs(float(data["location"]["lon"]) - 24.94) < 0.01
    )
    assert len(data["gateway_tuid"]) == 17
    assert api.get(f"/things/{SPARE}").json()["data"]["battery_level"] == 7
    assert_error(api.get("/things/XXXX00X0X00000000"), 404)


def test_its_tuids_look_like_thingsee_tuids(sim):
    assert [d.vendor_id for d in sim.devices] == [
        COLD_ROOM,
        FREEZER,
        AMBIENT,
        LAB_FRIDGE,
        SPARE,
        RETIRED_THING,
    ]
    assert all(len(d.vendor_id) == 17 for d in sim.devices)


def test_a_retired_thing_says_so_and_sent_nothing_since(api, sim):
    history = api.get(f"/things/{RETIRED_THING}/installations").json()["data"]
    assert [h["installation_status"] for h in history] == ["retired", "installed", "new"]
    assert history[0]["timestamp"] == RETIRED_AT
    data = api.get(f"/things/{RETIRED_THING}/messages", **{"from": NOW - 3 * 86400, "limit": 10_000}).json()[
        "data"
    ]
    assert data and max(m["tsmTs"] for m in data) < RETIRED_AT <= NOW
    assert api.get(f"/things/{RETIRED_THING}").json()["data"]["timestamp"] == max(m["tsmTs"] for m in data)
    assert api.get(f"/things/{RETIRED_THING}/group").json()["data"]["group_id"] == "unassigned"


def test_messages_need_a_limit(api):
    message = assert_error(api.get(f"/things/{COLD_ROOM}/messages"), 400)
    assert "limit" in message
    assert_error(api.get(f"/things/{COLD_ROOM}/messages", limit="many"), 400)
    assert_error(api.get(f"/things/{COLD_ROOM}/messages", limit=0), 400)


def test_it_returns_the_newest_limit_messages_newest_first(api):
    start = NOW - 86400
    data = api.get(f"/things/{COLD_ROOM}/messages", **{"from": start, "to": NOW, "limit": 50}).json()["data"]
    assert len(data) == 50
    times = [m["tsmTs"] for m in data]
    assert times == sorted(times, reverse=True) and times[-1] >= start
    everything = api.get(
        f"/things/{COLD_ROOM}/messages", **{"from": start, "to": NOW, "limit": 10_000}
    ).json()["data"]
    assert len(everything) == 144 + 4  # 12100 every 10 minutes, 1110 every 6 hours
    assert everything[:50] == data  # the newest fifty
    assert max(m["tsmTs"] for m in everything) == times[0]
    assert all(start <= m["tsmTs"] <= NOW for m in everything)


def test_it_can_answer_oldest_first_for_tests(api, sim):
    sim.newest_first = False
    start = NOW - 86400
    data = api.get(f"/things/{COLD_ROOM}/messages", **{"from": start, "to": NOW, "limit": 50}).json()["data"]
    times = [m["tsmTs"] for m in data]
    assert len(data) == 50 and times == sorted(times) and times[0] >= start
    sim.newest_first = True
    newest = api.get(f"/things/{COLD_ROOM}/messages", **{"from": start, "to": NOW, "limit": 200}).json()[
        "data"
    ]
    assert list(reversed(newest))[:50] == data


def test_environment_and_battery_messages_carry_their_fields(api):
    data = api.get(f"/things/{COLD_ROOM}/messages", **{"from": NOW - 86400, "to": NOW, "limit": 1000}).json()[
        "data"
    ]
    environment = [m for m in data if m["tsmId"] == 12100]
    battery = [m for m in data if m["tsmId"] == 1110]
    assert len(environment) == 144 and len(battery) == 4
    for message in environment:
        assert {
            "tsmId",
            "tsmEv",
            "tsmTs",
            "tsmTuid",
            "tsmGw",
            "deploymentGroupId",
            "temp",
            "humd",
            "airp",
            "lght",
        } <= set(message)
        assert message["tsmTuid"] == COLD_ROOM and message["deploymentGroupId"] == "pharmacy-cold-room"
        assert message["tsmEv"] in (9, 10)
    failing = api.get(f"/things/{LAB_FRIDGE}/messages", **{"from": NOW - 3 * 86400, "limit": 1000}).json()[
        "data"
    ]
    assert {m["tsmEv"] for m in failing} == {9, 10}  # a compressor failure crosses the threshold
    assert all(0 <= m["batl"] <= 100 and m["tsmEv"] == 10 for m in battery)
    battery_times = sorted(m["tsmTs"] for m in battery)
    assert [b - a for a, b in zip(battery_times, battery_times[1:], strict=False)] == [21600] * 3
    # A battery message shares its second with an environment message.
    assert {m["tsmTs"] for m in battery} <= {m["tsmTs"] for m in environment}


def test_messages_filter_by_message_id_and_event_id(api):
    params = {"from": NOW - 86400, "to": NOW, "limit": 1000}
    battery = api.get(f"/things/{COLD_ROOM}/messages", messageid="1110", **params).json()["data"]
    assert len(battery) == 4 and {m["tsmId"] for m in battery} == {1110}
    both = api.get(f"/things/{COLD_ROOM}/messages", messageid="1110,12100", **params).json()["data"]
    assert len(both) == 148
    params["from"] = NOW - 3 * 86400
    threshold = api.get(f"/things/{LAB_FRIDGE}/messages", eventid="9", **params).json()["data"]
    assert threshold and {m["tsmEv"] for m in threshold} == {9}
    assert_error(api.get(f"/things/{COLD_ROOM}/messages", messageid="abc", **params), 400)


def test_a_failed_sensor_sends_the_error_string_instead_of_a_number(api, sim):
    data = api.get(
        f"/things/{AMBIENT}/messages", messageid="12100", **{"from": NOW - 7 * 86400, "limit": 2000}
    ).json()["data"]
    errors = [m for m in data if m["temp"] == SENSOR_ERROR_VALUE]
    assert errors
    assert all(isinstance(m["humd"], float | int) for m in errors)
    truth = sim.truth_readings(AMBIENT, datetime.fromtimestamp(NOW - 7 * 86400, UTC), FIXED_NOW)
    assert sum(1 for r in truth if r.error == SENSOR_ERROR_VALUE) == len(errors)


def test_a_silent_thing_sends_nothing_in_its_silent_hours(api, sim):
    data = api.get(
        f"/things/{SPARE}/messages", messageid="12100", **{"from": NOW - 86400, "limit": 1000}
    ).json()["data"]
    assert len(data) == 144 - 30  # five silent hours a day
    times = sorted(m["tsmTs"] for m in data)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) == 5 * 3600 + 600


def test_alerts_of_a_thing_are_wall_clock_time_of_helsinki(api, sim):
    start = NOW - 10 * 86400
    data = api.get(f"/things/{LAB_FRIDGE}/alerts", **{"from": start, "to": NOW}).json()["data"]
    assert [entry["alert_type"] for entry in data] == ["temperature high"]
    assert data[0]["tuid"] == LAB_FRIDGE
    windows = sim.world.failure_windows(sim.device(LAB_FRIDGE), start, NOW)
    expected = [
        datetime.fromtimestamp(a, HELSINKI).strftime("%Y-%m-%dT%H:%M:%S")
        for a, b in windows
        if a <= NOW and b >= start
    ]
    assert [alert["from"] for alert in data[0]["alerts"]] == expected
    first = data[0]["alerts"][0]
    assert datetime.fromisoformat(first["to"]) - datetime.fromisoformat(first["from"]) == timedelta(hours=4)


def test_a_silent_thing_has_heartbeat_alerts_and_a_flat_battery_alert_still_going_on(api):
    data = api.get(f"/things/{SPARE}/alerts", **{"from": NOW - 2 * 86400, "to": NOW}).json()["data"]
    by_type = {entry["alert_type"]: entry["alerts"] for entry in data}
    assert set(by_type) == {"heartbeat missed", "battery low"}
    assert len(by_type["heartbeat missed"]) in (2, 3)
    assert by_type["battery low"] == [{"from": "2025-01-01T02:00:00", "to": None}]
    assert api.get(f"/things/{FREEZER}/alerts").json()["data"] == []


def test_commands_with_allowed_message_ids_are_sent_and_listed(api):
    response = api.post(f"/things/{COLD_ROOM}/commands", [{"tsmId": 1500, "tsmEv": 30, "transactionId": 7}])
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["commands"][0]["tsmId"] == 1500 and data["commands"][0]["tsmDstTuid"] == COLD_ROOM
    assert data["commands"][0]["tsmTs"] == NOW and data["commands"][0]["transactionId"] == 7
    listed = api.get(f"/things/{COLD_ROOM}/commands").json()["data"]
    assert len(listed) == 1 and listed[0]["tuid"] == COLD_ROOM and listed[0]["command"]["tsmId"] == 1500
    assert api.get(f"/things/{COLD_ROOM}/commands", messageid="12200").json()["data"] == []
    assert ALLOWED_COMMAND_IDS == (1500, 1501, 12200, 13200)


def test_commands_with_other_message_ids_are_refused(api):
    message = assert_error(api.post(f"/things/{COLD_ROOM}/commands", [{"tsmId": 17110, "tsmEv": 30}]), 400)
    assert "17110" in message
    assert_error(api.post(f"/things/{COLD_ROOM}/commands", [{"tsmId": 1500}]), 400)
    assert api.get(f"/things/{COLD_ROOM}/commands").json()["data"] == []


def test_installation_status_is_set_and_kept_in_the_history_newest_first(api):
    history = api.get(f"/things/{COLD_ROOM}/installations").json()["data"]
    assert [h["installation_status"] for h in history] == ["installed", "new"]
    response = api.post(f"/things/{COLD_ROOM}/installations", {"installation_status": "quarantine"})
    assert response.json()["data"] == {"tuid": COLD_ROOM, "installation_status": "quarantine"}
    history = api.get(f"/things/{COLD_ROOM}/installations").json()["data"]
    assert [h["installation_status"] for h in history] == ["quarantine", "installed", "new"]
    assert history[0]["timestamp"] == NOW and set(history[0]) == {
        "tuid",
        "installation_status",
        "timestamp",
        "responsible",
    }
    assert len(api.get(f"/things/{COLD_ROOM}/installations", limit=1).json()["data"]) == 1


def test_an_unknown_installation_status_is_refused(api):
    assert_error(api.post(f"/things/{COLD_ROOM}/installations", {"installation_status": "broken"}), 400)
    assert_error(api.post(f"/things/{COLD_ROOM}/installations", {}), 400)


def test_the_group_of_a_thing_is_read_and_set(api):
    assert api.get(f"/things/{FREEZER}/group").json()["data"] == {"group_id": "warehouse-a", "tuid": FREEZER}
    assert api.get(f"/things/{SPARE}/group").json()["data"]["group_id"] == "unassigned"
    moved = api.post(f"/things/{SPARE}/group", {"group_id": "warehouse-a"}).json()["data"]
    assert moved == {"group_id": "warehouse-a", "tuid": SPARE}
    assert SPARE in api.get("/groups/warehouse-a/things").json()["data"]["tuids"]
    assert api.get("/groups/unassigned/things").json()["data"] == {
        "group_id": "unassigned",
        "tuids": [RETIRED_THING],
    }
    assert_error(api.post(f"/things/{SPARE}/group", {"group_id": "nowhere"}), 404)
    assert_error(api.post(f"/things/{SPARE}/group", {"group_id": OLD_STORE}), 404)  # deleted
    api.post(f"/things/{SPARE}/group", {"group_id": "unassigned"})
    assert api.get("/groups/unassigned/things").json()["data"]["tuids"] == [SPARE, RETIRED_THING]


# -- deployment groups ---------------------------------------------------------------------------


def test_it_lists_the_groups_deleted_ones_marked_searches_them_and_caps_the_list(api):
    groups = api.get("/groups/").json()["data"]
    assert groups == [
        {"group_id": "lab-fridges", "group_description": "Laboratory fridges, Oulu", "deleted": False},
        {"group_id": OLD_STORE, "group_description": DELETED_GROUP[1], "deleted": True},
        {
            "group_id": "pharmacy-cold-room",
            "group_description": "Pharmacy cold room, Helsinki",
            "deleted": False,
        },
        {"group_id": "warehouse-a", "group_description": "Warehouse A, Tampere", "deleted": False},
    ]
    assert [g["group_id"] for g in api.get("/groups/", q="tampere").json()["data"]] == ["warehouse-a"]
    assert len(api.get("/groups/", limit=2).json()["data"]) == 2
    assert api.get("/groups").json()["data"] == groups


def test_it_lists_the_things_of_a_group_as_an_object_holding_tuids(api):
    """docs/vendors.md [C] (haltian/Thingsee-Toolbox, lib/protocol/device_list_response.dart)."""
    assert api.get("/groups/warehouse-a/things").json() == {
        "data": {"group_id": "warehouse-a", "tuids": [FREEZER, AMBIENT]}
    }
    assert api.get("/groups/unassigned/things").json()["data"]["tuids"] == [SPARE, RETIRED_THING]
    # [A] a deleted group answers what it held when it was deleted
    assert api.get(f"/groups/{OLD_STORE}/things").json()["data"]["tuids"] == [RETIRED_THING]
    assert_error(api.get("/groups/nowhere/things"), 404)


def test_a_group_is_created_and_visible_in_later_reads(api):
    response = api.post("/groups", {"group_id": "testgroup1", "group_description": "This is a test group"})
    assert response.json() == {
        "data": {"group_id": "testgroup1", "group_description": "This is a test group"}
    }
    assert {
        "group_id": "testgroup1",
        "group_description": "This is a test group",
        "deleted": False,
    } in api.get("/groups/").json()["data"]
    assert api.get("/groups/testgroup1/things").json()["data"] == {"group_id": "testgroup1", "tuids": []}
    assert_error(api.post("/groups", {"group_id": "testgroup1"}), 409)
    # [A] a deleted group's id may be taken again: it is a live, empty group then
    api.post("/groups", {"group_id": OLD_STORE, "group_description": "Reopened"})
    rows = [g for g in api.get("/groups/").json()["data"] if g["group_id"] == OLD_STORE]
    assert rows == [{"group_id": OLD_STORE, "group_description": "Reopened", "deleted": False}]
    assert api.get(f"/groups/{OLD_STORE}/things").json()["data"]["tuids"] == []


@pytest.mark.parametrize("group_id", ["with space", "tab\there", "unassigned", "Unassigned", ""])
def test_a_group_id_with_whitespace_or_named_unassigned_is_refused(api, group_id):
    message = assert_error(api.post("/groups", {"group_id": group_id}), 400)
    assert "whitespace" in message or "unassigned" in message or "required" in message
    message = assert_error(api.post("/groups/warehouse-a/rename", {"group_id": group_id}), 400)
    assert "warehouse-a" in [g["group_id"] for g in api.get("/groups/").json()["data"]]


def test_a_group_is_renamed_with_its_things(api):
    response = api.post("/groups/warehouse-a/rename", {"group_id": "warehouse-b"})
    assert response.json()["data"] == {"group_id": "warehouse-b", "old": "warehouse-a", "renamed": True}
    assert api.get("/groups/warehouse-b/things").json()["data"]["tuids"] == [FREEZER, AMBIENT]
    assert_error(api.get("/groups/warehouse-a/things"), 404)
    message = api.get(f"/things/{FREEZER}/messages", limit=1, **{"from": NOW - 3600}).json()["data"][0]
    assert message["deploymentGroupId"] == "warehouse-b"
    assert_error(api.post("/groups/nowhere/rename", {"group_id": "x1"}), 404)
    assert_error(api.post("/groups/warehouse-b/rename", {"group_id": "lab-fridges"}), 409)


def test_a_deleted_group_stays_listed_as_deleted_and_its_things_become_unassigned(api):
    response = api.delete("/groups/warehouse-a")
    assert response.json()["data"] == {"group_id": "warehouse-a", "deleted": True}
    listed = {g["group_id"]: g["deleted"] for g in api.get("/groups/").json()["data"]}
    assert listed["warehouse-a"] is True
    assert api.get("/groups/unassigned/things").json()["data"]["tuids"] == [
        FREEZER,
        AMBIENT,
        SPARE,
        RETIRED_THING,
    ]
    assert api.get(f"/things/{FREEZER}/group").json()["data"]["group_id"] == "unassigned"
    assert_error(api.delete("/groups/warehouse-a"), 404)
    assert_error(api.post("/groups/warehouse-a/rename", {"group_id": "warehouse-z"}), 404)


def test_an_unknown_path_or_method_is_refused_in_the_vendor_shape(api):
    assert_error(api.get("/nothing"), 404)
    assert_error(api.get(f"/things/{COLD_ROOM}/nothing"), 404)
    assert_error(api.delete(f"/things/{COLD_ROOM}"), 405)


# -- determinism ---------------------------------------------------------------------------------


def test_two_simulators_with_the_same_seed_hold_the_same_data():
    clock = lambda: FIXED_NOW.timestamp()  # noqa: E731
    a, b = ThingseeSimulator(World(seed=3, clock=clock)), ThingseeSimulator(World(seed=3, clock=clock))
    c = ThingseeSimulator(World(seed=4, clock=clock))
    for device in a.devices:
        assert a.messages(device, NOW - 86400, NOW, 1000) == b.messages(
            b.device(device.vendor_id), NOW - 86400, NOW, 1000
        )
    assert a.credentials == b.credentials != c.credentials
    since = FIXED_NOW - timedelta(days=30)
    assert a.truth_alerts(since, FIXED_NOW) == b.truth_alerts(since, FIXED_NOW)
    assert a.messages(a.devices[0], NOW - 86400, NOW, 10) != c.messages(c.devices[0], NOW - 86400, NOW, 10)


def test_data_grows_with_the_world_clock():
    now = [NOW]
    sim = ThingseeSimulator(World(seed=7, clock=lambda: now[0]))
    before = len(sim.messages(sim.devices[0], NOW - 86400, NOW + 86400, 10_000, {12100}))
    now[0] += 3600
    assert len(sim.messages(sim.devices[0], NOW - 86400, NOW + 86400, 10_000, {12100})) == before + 6


# -- faults --------------------------------------------------------------------------------------


def test_error_rate_one_answers_500_or_503(api, sim):
    sim.faults.update(error_rate=1)
    statuses = {api.get("/groups/").status_code for _ in range(10)}
    assert statuses <= {500, 503} and statuses
    assert_error(api.get("/groups/"), api.get("/groups/").status_code)


def test_a_burst_of_429_then_normal_answers(api, sim):
    sim.faults.update(burst_429=2)
    assert_error(api.get("/groups/"), 429)
    assert_error(api.get("/groups/"), 429)
    assert api.get("/groups/").status_code == 200


def test_malformed_and_truncated_answers_are_not_json(api, sim):
    sim.faults.update(malformed_rate=1)
    with pytest.raises(ValueError):
        api.get("/groups/").json()
    sim.faults.update(malformed_rate=0, truncated_rate=1)
    response = api.get("/groups/")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_revoked_credentials_refuse_every_login_and_every_token(api, sim):
    sim.faults.update(credentials="revoked")
    assert_error(api.login(), 401)
    assert_error(api.get("/groups/"), 401)
    sim.faults.update(credentials="valid")
    assert api.get("/groups/").status_code == 200


def test_expired_credentials_make_every_token_so_far_stale_and_a_new_one_works(api, sim):
    sim.faults.update(credentials="expired")
    assert_error(api.get("/groups/"), 401)
    fresh = api.login().json()["data"]["token"]
    assert api.get("/groups/", token=fresh).status_code == 200
    assert api.get("/groups/", token=fresh).status_code == 200


def test_a_hang_answers_late_with_504(api, sim):
    sim.faults.update(hang_rate=1, hang_seconds=0.2)
    assert_error(api.get("/groups/"), 504)


def test_faults_can_be_given_to_the_constructor(world):
    sim = ThingseeSimulator(world=world, faults=Faults.parse("error_rate=1"))
    assert sim.faults.error_rate == 1
