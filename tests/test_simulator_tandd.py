"""The T&D WebStorage simulator, asserted against tandd-webstorage.txt and docs/vendors.md."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
import requests

from tests.conftest import FIXED_NOW
from vendors.simulators import Faults, World
from vendors.simulators.tandd import SENSOR_ERROR_TEXT, TandDSimulator
from vendors.simulators.world import utc

NOW = int(FIXED_NOW.timestamp())
DAY = 86400
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Reset", "X-RateLimit-Remaining")


@pytest.fixture
def sim(world):
    return TandDSimulator(world)


@pytest.fixture
def call(sim, serve):
    """``call(path, **params)`` posts the documented request with the account's credentials."""
    server = serve(sim)
    base = server.base_url("tandd")

    def post(path, *, credentials=None, headers=None, raw=None, **params):
        creds = sim.credentials if credentials is None else credentials
        body = {"api-key": creds["api_key"], "login-id": creds["login_id"], "login-pass": creds["login_pass"]}
        body.update({k.replace("_", "-"): v for k, v in params.items()})
        send_headers = {"X-HTTP-Method-Override": "GET", "Content-Type": "application/json"}
        send_headers.update(headers or {})
        data = raw if raw is not None else json.dumps(body)
        return requests.post(base + path, data=data, headers=send_headers, timeout=10)

    return post


def assert_error(response, status):
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == status
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    for header in RATE_HEADERS:
        assert header in response.headers


# -- /v1/devices/current ---------------------------------------------------------------------------


LOGGERS = ["52140001", "52120001", "52120002", "52120003", "52120004"]
REMOTES = ["52800001", "52870001", "52830001", "52810001", "50250001"]


def test_current_lists_every_logger_with_its_values_as_strings(call, sim):
    response = call("/v1/devices/current")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["X-RateLimit-Limit"] == "10"
    assert response.headers["X-RateLimit-Remaining"] == "9"
    assert 0 < int(response.headers["X-RateLimit-Reset"]) <= 120
    devices = response.json()["devices"]
    assert [d["serial"] for d in devices] == LOGGERS + REMOTES
    for d in devices:
        assert set(d) >= {"serial", "model", "name", "battery", "rssi", "time_diff", "std_bias", "dst_bias"}
        assert set(d) >= {"unixtime", "channel", "baseunit", "group"}
        assert len(d["serial"]) == 8
        assert d["time_diff"] == "540"  # Asia/Tokyo, GMT+9:00
        assert isinstance(d["unixtime"], str) and int(d["unixtime"]) <= NOW
        for channel in d["channel"]:
            assert set(channel) == {"num", "name", "value", "unit"}
            assert all(isinstance(v, str) for v in channel.values())
        assert [c["num"] for c in d["channel"]] == [str(i + 1) for i in range(len(d["channel"]))]
    ambient = devices[0]
    assert ambient["model"] == "TR-72wf"
    assert [c["unit"] for c in ambient["channel"]] == ["C", "%"]
    assert ambient["baseunit"] == {"serial": "52140001", "model": "TR-72wf", "name": "Warehouse ambient"}
    assert ambient["group"] == {"num": "1", "name": "Main warehouse"}
    assert devices[3]["group"] == {}
    assert devices[3]["battery"] == "1"  # the low-battery logger
    assert devices[2]["channel"][0]["unit"] == "F"  # the freezer is set to Fahrenheit


def test_current_is_limited_to_10_requests_per_2_minutes(world, serve):
    sim = TandDSimulator(world, current_requests_per_window=2, current_request_window=1.0)
    server = serve(sim)
    body = json.dumps({k.replace("_", "-"): v for k, v in sim.credentials.items()})
    headers = {"X-HTTP-Method-Override": "GET"}
    url = server.base_url("tandd") + "/v1/devices/current"
    answers = [requests.post(url, data=body, headers=headers, timeout=5) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[1].headers["X-RateLimit-Remaining"] == "0"
    assert_error(answers[2], 429)
    assert sim.rate_limit_refusals == 1
    time.sleep(1.05)
    assert requests.post(url, data=body, headers=headers, timeout=5).status_code == 200


# -- authentication and request errors -------------------------------------------------------------


def test_it_requires_the_method_override_header(call):
    response = call("/v1/devices/current", headers={"X-HTTP-Method-Override": ""})
    assert_error(response, 400)


def test_it_refuses_a_body_that_is_not_json_with_415(call):
    assert_error(call("/v1/devices/current", raw="api-key=x&login-id=y"), 415)
    assert_error(call("/v1/devices/current", raw="[1, 2]"), 415)


def test_it_refuses_missing_credentials_with_400_and_wrong_ones_with_401(call, sim):
    creds = sim.credentials
    assert_error(call("/v1/devices/current", credentials={**creds, "login_pass": ""}), 400)
    for key in creds:
        wrong = {**creds, key: creds[key][:-1] + ("x" if creds[key][-1] != "x" else "y")}
        assert_error(call("/v1/devices/current", credentials=wrong), 401)


def test_unknown_paths_and_methods_are_refused_in_the_vendors_shape(call, sim, serve):
    assert_error(call("/v1/devices/nothing"), 404)
    url = serve(sim).base_url("tandd") + "/v1/devices/current"
    assert_error(requests.get(url, timeout=5), 405)


def test_data_refuses_invalid_parameters_with_400(call):
    assert_error(call("/v1/devices/data"), 400)  # no remote-serial
    assert_error(call("/v1/devices/data", remote_serial="5212"), 400)
    assert_error(call("/v1/devices/data", remote_serial="99999999"), 400)
    assert_error(call("/v1/devices/data", remote_serial="52120001", number="many"), 400)
    assert_error(call("/v1/devices/data", remote_serial="52120001", number=0), 400)
    assert_error(call("/v1/devices/data", remote_serial="52120001", unixtime_from="yesterday"), 400)
    assert_error(call("/v1/devices/data", remote_serial="52120001", type="xml"), 400)
    assert_error(call("/v1/devices/data", remote_serial="52120001", temperature_unit="K"), 400)


# -- /v1/devices/data ------------------------------------------------------------------------------


def test_data_answers_in_the_real_shape(call):
    response = call("/v1/devices/data", remote_serial="52140001", unixtime_from=NOW - DAY, unixtime_to=NOW)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["X-RateLimit-Limit"] == "20"
    assert response.headers["X-RateLimit-Remaining"] == "19"
    body = response.json()
    assert body["serial"] == "52140001" and body["model"] == "TR-72wf"
    # The real spelling (docs/vendors.md [C], the public Go client's test resources): underscores, num
    # from "1".
    assert (body["time_diff"], body["std_bias"], body["dst_bias"]) == ("540", "0", "0")
    assert body["channel"] == [
        {"num": "1", "name": "Temp", "unit": "C"},
        {"num": "2", "name": "Humid", "unit": "%"},
    ]
    rows = body["data"]
    assert len(rows) == 144  # one day at 10 minutes
    assert int(response.headers["X-RateLimit-Remaining-DataCount"]) == 160_000 - 144
    for row in rows:
        assert set(row) == {"unixtime", "data-id", "ch1", "ch2"}
        assert all(isinstance(v, str) for v in row.values())
        assert NOW - DAY <= int(row["unixtime"]) <= NOW
    times = [int(r["unixtime"]) for r in rows]
    assert times == sorted(times)


def test_a_one_channel_logger_has_no_ch2(call):
    rows = call("/v1/devices/data", remote_serial="52120003", number=5).json()["data"]
    assert len(rows) == 5
    assert all(set(row) == {"unixtime", "data-id", "ch1"} for row in rows)


def test_without_period_or_number_it_returns_the_newest_16000_readings(call, sim):
    rows = call("/v1/devices/data", remote_serial="52120004").json()["data"]
    assert len(rows) == 16_000
    assert int(rows[-1]["unixtime"]) > NOW - 30
    assert [int(r["unixtime"]) for r in rows] == sorted(int(r["unixtime"]) for r in rows)


def test_a_period_with_more_than_number_readings_gives_its_newest_number(call):
    start, end = NOW - DAY, NOW - DAY // 2
    rows = call("/v1/devices/data", remote_serial="52140001", unixtime_from=start, unixtime_to=end, number=10)
    rows = rows.json()["data"]
    everything = call("/v1/devices/data", remote_serial="52140001", unixtime_from=start, unixtime_to=end)
    everything = everything.json()["data"]
    assert len(everything) == 72
    assert rows == everything[-10:]


def test_number_is_capped_at_65535(call):
    response = call(
        "/v1/devices/data", remote_serial="52120004", unixtime_from=NOW - 30 * DAY, number=100_000
    )
    assert len(response.json()["data"]) == 65_535


def test_temperature_unit_converts_between_the_device_unit_c_and_f(call):
    params = {"remote_serial": "52120002", "unixtime_from": NOW - 3600, "unixtime_to": NOW}
    in_device = call("/v1/devices/data", **params).json()
    in_c = call("/v1/devices/data", temperature_unit="C", **params).json()
    in_f = call("/v1/devices/data", temperature_unit="F", **params).json()
    assert in_device["channel"][0]["unit"] == "F" and in_c["channel"][0]["unit"] == "C"
    assert in_device["data"] == in_f["data"]
    for c_row, f_row in zip(in_c["data"], in_f["data"], strict=True):
        if c_row["ch1"] != SENSOR_ERROR_TEXT:
            assert -25 < float(c_row["ch1"]) < -14
            assert float(f_row["ch1"]) == pytest.approx(float(c_row["ch1"]) * 9 / 5 + 32, abs=0.051)


def test_a_faulty_sensor_reads_sensor_error(call):
    rows = call("/v1/devices/data", remote_serial="52120002", unixtime_from=NOW - 3 * DAY).json()["data"]
    errors = [r for r in rows if r["ch1"] == "Sensor Error"]
    assert 0 < len(errors) < len(rows) // 20


def test_csv_and_csv2_have_the_documents_three_header_rows_and_local_times(call):
    for kind in ("csv", "csv2"):
        response = call("/v1/devices/data", remote_serial="52140001", number=3, type=kind)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        lines = list(csv.reader(io.StringIO(response.text)))
        assert lines[0] == ["Date/Time", "Date/Time", "No.1", "No.2"]
        assert lines[1] == [
            "time difference:GMT+9:00/daylight savings time:off",
            "date as serial value(Excel)",
            "Temp",
            "Humid",
        ]
        assert lines[2] == ["", "", "C", "%"]
        assert len(lines) == 6
        json_rows = call("/v1/devices/data", remote_serial="52140001", number=3).json()["data"]
        for line, row in zip(lines[3:], json_rows, strict=True):
            local = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(row["unixtime"]) + 9 * 3600))
            assert line[0] == local
            assert float(line[1]) == pytest.approx(
                (int(row["unixtime"]) + 9 * 3600) / 86400 + 25569, abs=1e-8
            )
            assert line[2:] == [row["ch1"], row["ch2"]]


def test_data_id_increases_by_one_per_reading(call):
    rows = call("/v1/devices/data", remote_serial="52140001", unixtime_from=NOW - 2 * DAY).json()["data"]
    ids = [int(r["data-id"]) for r in rows]
    assert ids == list(range(ids[0], ids[0] + len(ids)))


def test_a_silent_logger_jumps_its_data_id_over_the_silent_window(call, sim):
    rows = call("/v1/devices/data", remote_serial="52120001", unixtime_from=NOW - 2 * DAY).json()["data"]
    pairs = list(zip(rows, rows[1:], strict=False))
    jumps = [(a, b) for a, b in pairs if int(b["data-id"]) != int(a["data-id"]) + 1]
    assert len(jumps) >= 1
    for a, b in jumps:
        missing = int(b["data-id"]) - int(a["data-id"]) - 1
        assert (
            missing == (int(b["unixtime"]) - int(a["unixtime"])) // 300 - 1 == 60
        )  # five hours at 5 minutes


def test_the_reset_logger_restarts_its_data_id_at_1(call, sim):
    reset = sim.reset_times("52120003", NOW - 60 * DAY, NOW)[-1]
    rows = call(
        "/v1/devices/data", remote_serial="52120003", unixtime_from=reset - 3600, unixtime_to=reset + 3600
    ).json()["data"]
    ids = [int(r["data-id"]) for r in rows]
    after = [r for r in rows if int(r["unixtime"]) >= reset]
    assert int(after[0]["data-id"]) == 1
    assert ids[: len(rows) - len(after)][-1] > 1000
    assert ids[len(rows) - len(after) :] == list(range(1, len(after) + 1))


def test_latest_data_returns_the_newest_readings(call):
    response = call("/v1/devices/latest-data", remote_serial="52140001")
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "60"
    rows = response.json()["data"]
    assert rows and all(NOW - 3600 <= int(r["unixtime"]) <= NOW for r in rows)


# -- RTR500B remote units: /current, data-rtr500 ---------------------------------------------------

WAREHOUSE_BASE = "58580001"


def test_current_lists_remote_units_with_their_base_unit_and_empty_channel_names(call):
    devices = {d["serial"]: d for d in call("/v1/devices/current").json()["devices"]}
    cold_room = devices["52870001"]
    assert cold_room["model"] == "RTR507B"
    assert cold_room["baseunit"] == {"serial": WAREHOUSE_BASE, "model": "RTR500BW", "name": "Warehouse base"}
    assert [(c["num"], c["name"], c["unit"]) for c in cold_room["channel"]] == [
        ("1", "", "C"),
        ("2", "", "%"),
    ]
    volts = devices["52830001"]["channel"]
    assert [(c["num"], c["name"], c["unit"]) for c in volts] == [("1", "", "V")]
    assert 0 < float(volts[0]["value"]) < 5
    assert devices["50250001"]["model"] == "RTR-502"
    assert devices["50250001"]["baseunit"]["model"] == "RTR-500NW"
    assert WAREHOUSE_BASE not in devices  # a base unit is not a device of its own


def test_current_is_filtered_by_the_remote_serial_and_base_serial_arrays(call):
    def serials(**params):
        return [d["serial"] for d in call("/v1/devices/current", **params).json()["devices"]]

    assert serials(remote_serial=["52870001", "52120002"]) == ["52120002", "52870001"]
    assert serials(base_serial=[WAREHOUSE_BASE]) == ["52800001", "52870001", "52830001"]
    assert serials(remote_serial=["52870001"], base_serial=["50000001"]) == []
    assert_error(call("/v1/devices/current", remote_serial="52870001"), 400)  # an array, documented


def test_data_refuses_a_remote_unit_in_the_vendors_error_shape(call):
    for serial in ("52870001", "52810001", "50250001"):
        assert_error(call("/v1/devices/data", remote_serial=serial, number=5), 400)
        assert_error(call("/v1/devices/latest-data", remote_serial=serial), 400)


def test_data_rtr500_answers_a_remote_unit_in_the_real_shape(call, sim):
    response = call(
        "/v1/devices/data-rtr500",
        remote_serial="52870001",
        base_serial=WAREHOUSE_BASE,
        unixtime_from=NOW - DAY,
        unixtime_to=NOW,
    )
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "20"
    assert int(response.headers["X-RateLimit-Remaining-DataCount"]) == 160_000 - 144
    body = response.json()
    assert {k: body[k] for k in ("remote-serial", "remote-model", "base-serial", "base-model")} == {
        "remote-serial": "52870001",
        "remote-model": "RTR507B",
        "base-serial": WAREHOUSE_BASE,
        "base-model": "RTR500BW",
    }
    assert (body["remote-name"], body["base-name"]) == ("Cold room B", "Warehouse base")
    assert (body["time-diff"], body["std-bias"], body["dst-bias"]) == ("540", "0", "0")  # hyphens here
    assert body["channel"] == [
        {"name": "ch1", "num": "1", "unit": "C"},
        {"name": "ch2", "num": "2", "unit": "%"},
    ]
    rows = body["data"]
    assert len(rows) == 144
    assert all(set(row) == {"unixtime", "data-id", "ch1", "ch2"} for row in rows)
    assert all(isinstance(v, str) for row in rows for v in row.values())
    ids = [int(r["data-id"]) for r in rows]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    truth = sim.truth_readings("52870001", utc(NOW - DAY), utc(NOW))
    assert [float(r["ch1"]) for r in rows] == [t.value for t in truth if t.channel == "ch1"]


def test_data_rtr500_gives_the_newest_number_of_a_period_and_caps_it_at_65535(call):
    params = {"remote_serial": "52800001", "base_serial": WAREHOUSE_BASE}
    everything = call("/v1/devices/data-rtr500", unixtime_from=NOW - 2 * DAY, **params).json()["data"]
    newest = call("/v1/devices/data-rtr500", unixtime_from=NOW - 2 * DAY, number=10, **params).json()["data"]
    assert newest == everything[-10:]
    capped = call("/v1/devices/data-rtr500", number=100_000, **params).json()["data"]
    assert len(capped) == 65_535  # of the 78,000 it recorded since it was installed
    assert capped[-1]["unixtime"] == everything[-1]["unixtime"]


def test_data_rtr500_refuses_loggers_rtr500_remotes_ftp_remotes_and_a_wrong_base(call):
    assert_error(call("/v1/devices/data-rtr500", remote_serial="52870001"), 400)  # no base-serial
    assert_error(call("/v1/devices/data-rtr500", remote_serial="52870001", base_serial="58580002"), 400)
    assert_error(call("/v1/devices/data-rtr500", remote_serial="52140001", base_serial="52140001"), 400)
    assert_error(
        call("/v1/devices/data-rtr500", remote_serial="52810001", base_serial="58580002"), 400
    )  # FTP
    assert_error(call("/v1/devices/data-rtr500", remote_serial="50250001", base_serial="50000001"), 400)


def test_latest_data_rtr500_returns_the_newest_readings_of_a_remote(call):
    response = call("/v1/devices/latest-data-rtr500", remote_serial="52830001", base_serial=WAREHOUSE_BASE)
    assert response.status_code == 200 and response.headers["X-RateLimit-Limit"] == "60"
    body = response.json()
    assert body["remote-serial"] == "52830001" and body["channel"][0]["unit"] == "V"
    assert body["data"] and all(NOW - 3600 <= int(r["unixtime"]) <= NOW for r in body["data"])


def test_data_rtr500_counts_in_the_same_budgets_as_data(world, serve):
    sim = TandDSimulator(world, data_requests_per_window=2, data_request_window=1.0)
    server = serve(sim)
    body = {k.replace("_", "-"): v for k, v in sim.credentials.items()}
    url = server.base_url("tandd") + "/v1/devices/data-rtr500"
    data = json.dumps({**body, "remote-serial": "52870001", "base-serial": WAREHOUSE_BASE, "number": 1})
    answers = [
        requests.post(url, data=data, headers={"X-HTTP-Method-Override": "GET"}, timeout=5) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert_error(answers[2], 429)


# -- limits ----------------------------------------------------------------------------------------


def test_data_is_limited_per_device_in_requests_per_window(world, serve):
    sim = TandDSimulator(world, data_requests_per_window=3, data_request_window=1.0)
    server = serve(sim)
    body = {k.replace("_", "-"): v for k, v in sim.credentials.items()}
    url = server.base_url("tandd") + "/v1/devices/data"

    def ask(serial):
        data = json.dumps({**body, "remote-serial": serial, "number": 1})
        return requests.post(url, data=data, headers={"X-HTTP-Method-Override": "GET"}, timeout=5)

    answers = [ask("52140001") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert_error(answers[3], 429)
    assert ask("52120001").status_code == 200  # another device has its own budget
    assert sim.rate_limit_refusals == 1
    time.sleep(1.05)
    assert ask("52140001").status_code == 200


def test_data_is_limited_per_device_in_readings_per_window(world, serve):
    sim = TandDSimulator(world, data_readings_per_window=100, data_readings_window=1.0)
    server = serve(sim)
    body = {k.replace("_", "-"): v for k, v in sim.credentials.items()}
    url = server.base_url("tandd") + "/v1/devices/data"

    def ask(number):
        data = json.dumps({**body, "remote-serial": "52140001", "number": number})
        return requests.post(url, data=data, headers={"X-HTTP-Method-Override": "GET"}, timeout=5)

    first = ask(60)
    assert first.status_code == 200
    assert first.headers["X-RateLimit-Remaining-DataCount"] == "40"
    spending = ask(50)  # the answer that spends the budget is served whole, never cut short
    assert len(spending.json()["data"]) == 50
    assert spending.headers["X-RateLimit-Remaining-DataCount"] == "0"
    assert 0 < int(spending.headers["X-RateLimit-Reset"]) <= 1
    refused = ask(1)
    assert_error(refused, 429)
    assert refused.headers["X-RateLimit-Remaining-DataCount"] == "0"
    assert sim.rate_limit_refusals == 1
    time.sleep(1.05)
    assert ask(50).status_code == 200


# -- determinism and faults ------------------------------------------------------------------------


def test_two_simulators_with_the_same_seed_serve_the_same_data(serve):
    def fetch():
        world = World(seed=7, clock=lambda: FIXED_NOW.timestamp())
        sim = TandDSimulator(world)
        server = serve(sim)
        body = {k.replace("_", "-"): v for k, v in sim.credentials.items()}
        url = server.base_url("tandd")
        headers = {"X-HTTP-Method-Override": "GET"}
        current = requests.post(
            url + "/v1/devices/current", data=json.dumps(body), headers=headers, timeout=5
        )
        data = json.dumps({**body, "remote-serial": "52120002", "number": 500})
        rows = requests.post(url + "/v1/devices/data", data=data, headers=headers, timeout=5)
        return sim.credentials, current.json(), rows.json()

    assert fetch() == fetch()


def test_credentials_are_deterministic_and_as_long_as_documented(world):
    creds = TandDSimulator(world).credentials
    assert creds == TandDSimulator(World(seed=7)).credentials
    assert creds != TandDSimulator(World(seed=8)).credentials
    assert set(creds) == {"api_key", "login_id", "login_pass"}
    assert (len(creds["api_key"]), len(creds["login_id"]), len(creds["login_pass"])) == (45, 8, 16)


def test_error_rate_1_gives_500_or_503_in_the_vendors_shape(call, sim):
    sim.faults.update(error_rate=1)
    statuses = set()
    for _ in range(8):
        response = call("/v1/devices/current")
        assert_error(response, response.status_code)
        statuses.add(response.status_code)
    assert statuses <= {500, 503} and statuses


def test_a_burst_of_429_refuses_the_next_requests_then_serves_again(call, sim):
    sim.faults.update(burst_429=2)
    assert_error(call("/v1/devices/current"), 429)
    assert_error(call("/v1/devices/current"), 429)
    assert call("/v1/devices/current").status_code == 200


def test_malformed_and_truncated_answers_are_not_valid_json(call, sim):
    sim.faults.update(malformed_rate=1)
    with pytest.raises(ValueError):
        json.loads(call("/v1/devices/current").text)
    sim.faults.update(malformed_rate=0, truncated_rate=1)
    with pytest.raises(ValueError):
        json.loads(call("/v1/devices/data", remote_serial="52140001", number=10).text)


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_revoked_or_expired_credentials_are_refused_with_401(call, sim, state):
    sim.faults.update(credentials=state)
    assert_error(call("/v1/devices/current"), 401)
    assert_error(call("/v1/devices/data", remote_serial="52140001"), 401)
    sim.faults.update(credentials="valid")
    assert call("/v1/devices/current").status_code == 200


def test_a_hang_answers_late_with_504(world, serve):
    sim = TandDSimulator(world, faults=Faults(hang_rate=1, hang_seconds=0.3))
    server = serve(sim)
    started = time.monotonic()
    response = requests.post(
        server.base_url("tandd") + "/v1/devices/current",
        data=json.dumps({k.replace("_", "-"): v for k, v in sim.credentials.items()}),
        headers={"X-HTTP-Method-Override": "GET"},
        timeout=5,
    )
    assert time.monotonic() - started >= 0.3
    assert_error(response, 504)
