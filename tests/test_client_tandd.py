"""The T&D WebStorage client, over real HTTP against the simulator."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
import requests

from tests.conftest import FIXED_NOW
from vendors.clients.errors import (
    AuthenticationError,
    ParseError,
    RateLimited,
    UnavailableError,
    VendorTimeout,
)
from vendors.clients.records import GapRecord, ReadingRecord
from vendors.clients.tandd import TandDClient, parse_time_offsets, parse_value
from vendors.simulators.tandd import TandDSimulator
from vendors.simulators.world import utc

NOW = FIXED_NOW
DAY = timedelta(days=1)


def make_client(sim, serve, **overrides) -> TandDClient:
    server = serve(sim)
    return TandDClient(
        base_url=server.base_url("tandd"),
        credentials=sim.credentials,
        timezone=sim.timezone,
        **overrides,
    )


def as_tuples(records):
    return sorted((r.device_id, r.channel, r.timestamp, r.value, r.error) for r in records)


def readings(records):
    return [r for r in records if isinstance(r, ReadingRecord)]


def gaps(records):
    return sorted((g.start, g.end) for g in records if isinstance(g, GapRecord))


@pytest.fixture
def sim(world):
    return TandDSimulator(world)


@pytest.fixture
def client(sim, serve):
    return make_client(sim, serve)


# -- devices ---------------------------------------------------------------------------------------


LOGGERS = ["52140001", "52120001", "52120002", "52120003", "52120004"]
REMOTES = ["52800001", "52870001", "52830001"]  # of the RTR500BW base 58580001, uploading by HTTPS
FTP_REMOTE = "52810001"  # of an RTR500BW base uploading by FTP: data-rtr500 refuses it
RTR500_REMOTE = "50250001"  # an RTR-502 of an RTR-500NW base: current values only


def test_it_lists_every_logger_with_channels_battery_group_and_last_seen(client):
    devices = {d.vendor_id: d for d in client.devices()}
    assert list(devices) == [*LOGGERS, *REMOTES, FTP_REMOTE, RTR500_REMOTE]
    ambient = devices["52140001"]
    assert ambient.name == "Warehouse ambient" and ambient.kind == "fixed"
    assert [(c.name, c.quantity, c.unit, c.label) for c in ambient.channels] == [
        ("ch1", "temperature", "C", "Temp"),
        ("ch2", "humidity", "%RH", "Humid"),
    ]
    assert ambient.group == "Main warehouse"
    assert devices["52120003"].group is None
    assert devices["52120003"].battery == 20.0  # the low-battery logger shows one bar of five
    assert devices["52120004"].battery > 20.0
    for device in devices.values():
        assert NOW - timedelta(hours=6) <= device.last_seen <= NOW
        assert device.extra["time_diff"] == 540  # spelled time_diff in /current
    # The freezer is set to Fahrenheit; its current value is stored in Celsius.
    freezer = devices["52120002"]
    assert [(c.name, c.unit) for c in freezer.channels] == [("ch1", "C")]
    current = freezer.extra["current"]["ch1"]
    assert current["error"] or -26 < current["value"] < -14
    assert not any(devices[serial].current_value_only for serial in LOGGERS + REMOTES)


def test_rtr500b_remotes_are_listed_with_their_base_channels_by_number_and_readable_labels(client):
    devices = {d.vendor_id: d for d in client.devices()}
    cold_room = devices["52870001"]
    assert cold_room.name == "Cold room B" and cold_room.group == "Main warehouse"
    assert cold_room.extra["model"] == "RTR507B"
    assert (cold_room.extra["base_serial"], cold_room.extra["history"]) == (
        "58580001",
        "/v1/devices/data-rtr500",
    )
    # Both channel names are empty at the vendor: two channels, keyed by number, each with a label.
    assert [(c.name, c.quantity, c.unit, c.label) for c in cold_room.channels] == [
        ("ch1", "temperature", "C", "Channel 1 (°C)"),
        ("ch2", "humidity", "%RH", "Channel 2 (% RH)"),
    ]
    volts = devices["52830001"]
    assert [(c.name, c.quantity, c.unit, c.label) for c in volts.channels] == [
        ("ch1", "other", "V", "Channel 1 (V)")
    ]
    assert 0 < volts.extra["current"]["ch1"]["value"] < 5
    assert devices[RTR500_REMOTE].current_value_only and devices[RTR500_REMOTE].extra["history"] == ""


# -- history ---------------------------------------------------------------------------------------


def test_a_full_history_of_every_device_equals_the_truth(client, sim):
    since, until = NOW - 3 * DAY, NOW
    for device in client.devices():
        records = list(client.history(device, since, until))
        truth = sim.truth_readings(device.vendor_id, since, until)
        assert len(readings(records)) == len(truth)
        assert as_tuples(readings(records)) == as_tuples(truth)
        assert gaps(records) == [(s, e) for s, e, _ in sim.truth_gaps(device.vendor_id, since, until)]
        assert all(since <= r.timestamp <= until for r in readings(records))


def test_re_reading_a_period_gives_the_same_records(client):
    device = next(d for d in client.devices() if d.vendor_id == "52120001")
    first = list(client.history(device, NOW - 2 * DAY, NOW))
    second = list(client.history(device, NOW - 2 * DAY, NOW))
    assert first == second


def test_it_pages_through_the_65535_cap_so_25_days_of_the_30_second_logger_arrive_exactly_once(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == "52120004")
    since, until = NOW - 25 * DAY + timedelta(seconds=1), NOW
    served_before = sim.requests_served
    records = list(client.history(device, since, until))
    assert len(records) == 72_000
    assert len({r.timestamp for r in records}) == 72_000
    assert as_tuples(records) == as_tuples(sim.truth_readings("52120004", since, until))
    # 65,535 newest, then the 6,465 older ones, then the reading before the period (for data-id gaps).
    assert sim.requests_served - served_before == 3


def test_it_pages_with_any_page_size(client, sim):
    client.page_size = 100
    device = next(d for d in client.devices() if d.vendor_id == "52140001")
    since, until = NOW - 2 * DAY, NOW
    records = list(client.history(device, since, until))
    assert as_tuples(records) == as_tuples(sim.truth_readings("52140001", since, until))


def test_a_long_period_is_read_in_spans_oldest_first_and_equals_the_truth(client, sim):
    client.span_seconds = 86400
    device = next(d for d in client.devices() if d.vendor_id == "52120001")
    since, until = NOW - 4 * DAY, NOW
    records = list(client.history(device, since, until))
    assert as_tuples(readings(records)) == as_tuples(sim.truth_readings("52120001", since, until))
    assert gaps(records) == [(s, e) for s, e, _ in sim.truth_gaps("52120001", since, until)]
    times = [r.timestamp for r in readings(records)]
    assert times == sorted(times)


def test_when_a_limit_stops_a_backfill_the_spans_already_yielded_are_complete(world, serve):
    sim = TandDSimulator(world, data_requests_per_window=2)  # two requests a minute
    client = make_client(sim, serve)
    client.span_seconds = 86400
    client.max_wait = 1
    device = next(d for d in client.devices() if d.vendor_id == "52140001")
    since = NOW - 3 * DAY
    received = []
    with pytest.raises(RateLimited):
        for record in client.history(device, since, NOW):
            received.append(record)
    # The first day, then the reading before it: the budget is spent before the second day.
    first_day = sim.truth_readings("52140001", since, since + DAY - timedelta(seconds=1))
    assert as_tuples(received) == as_tuples(first_day)
    assert sim.rate_limit_refusals == 0


def test_sensor_errors_are_stored_as_errors_and_temperatures_in_celsius(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == "52120002")
    records = readings(client.history(device, NOW - 3 * DAY, NOW))
    errors = [r for r in records if r.error]
    assert errors and all(r.value is None and r.error == "Sensor Error" for r in errors)
    values = [r.value for r in records if not r.error]
    assert all(-26 < v < -14 for v in values)  # a freezer in Celsius, though the logger is set to F


def test_a_silent_logger_is_reported_as_a_gap_with_its_missing_readings(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == "52120001")
    records = list(client.history(device, NOW - DAY, NOW - timedelta(hours=1)))
    reported = [g for g in records if isinstance(g, GapRecord)]
    truth = sim.truth_gaps("52120001", NOW - DAY, NOW - timedelta(hours=1))
    assert [(g.start, g.end) for g in reported] == [(s, e) for s, e, _ in truth]
    assert len(reported) == 1
    gap = reported[0]
    assert gap.device_id == "52120001"
    assert gap.end - gap.start == timedelta(hours=5, minutes=5)
    assert "60 readings missing" in gap.reason


def test_a_gap_just_before_the_period_is_reported_by_the_period_that_holds_its_end(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == "52120001")
    (start, end, _), *_ = sim.truth_gaps("52120001", NOW - DAY, NOW)
    records = list(client.history(device, end, end + timedelta(hours=1)))
    assert [(g.start, g.end) for g in records if isinstance(g, GapRecord)] == [(start, end)]
    # The period before it (ending at the last reading before the break) reports nothing.
    earlier = list(client.history(device, start - timedelta(hours=1), end - timedelta(seconds=1)))
    assert not [g for g in earlier if isinstance(g, GapRecord)]


def test_a_logger_reset_is_reported_as_a_gap(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == "52120003")
    reset = utc(sim.reset_times("52120003", int((NOW - 40 * DAY).timestamp()), int(NOW.timestamp()))[-1])
    records = list(client.history(device, reset - DAY, reset + DAY))
    reported = [g for g in records if isinstance(g, GapRecord)]
    assert len(reported) == 1
    assert reported[0].start < reset <= reported[0].end
    assert "restarted at 1" in reported[0].reason and "reset" in reported[0].reason
    assert len(readings(records)) == len(sim.truth_readings("52120003", reset - DAY, reset + DAY))


def test_an_empty_period_yields_nothing(client):
    device = next(d for d in client.devices() if d.vendor_id == "52140001")
    assert list(client.history(device, NOW + DAY, NOW + 2 * DAY)) == []


# -- RTR500B remote units and units without a history API ----------------------------------------


def requests_seen(client) -> list[tuple[str, dict]]:
    """(path, body without the credentials) of every request the client sends from now on."""
    seen = []
    credentials = ("api-key", "login-id", "login-pass")

    def note(response, *args, **kwargs):
        body = json.loads(response.request.body)
        path = response.request.path_url.split("/tandd", 1)[1]
        seen.append((path, {k: v for k, v in body.items() if k not in credentials}))

    client.http.hooks["response"].append(note)
    return seen


def test_a_remote_unit_is_read_through_data_rtr500_with_its_base_serial(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == "52870001")
    seen = requests_seen(client)
    since, until = NOW - 2 * DAY, NOW
    records = list(client.history(device, since, until))
    assert as_tuples(readings(records)) == as_tuples(sim.truth_readings("52870001", since, until))
    assert {r.channel for r in readings(records)} == {"ch1", "ch2"}
    assert seen and all(path == "/v1/devices/data-rtr500" for path, _ in seen)
    assert all(body["remote-serial"] == "52870001" and body["base-serial"] == "58580001" for _, body in seen)
    assert sim.statuses[400] == 0


def test_data_rtr500_pages_newest_first_and_reports_data_id_gaps_like_data(client, sim):
    client.page_size = 50
    device = next(d for d in client.devices() if d.vendor_id == "52800001")  # goes silent every day
    since, until = NOW - 2 * DAY, NOW
    records = list(client.history(device, since, until))
    truth = sim.truth_readings("52800001", since, until)
    assert len(readings(records)) == len(truth) > 200  # five pages and more
    assert as_tuples(readings(records)) == as_tuples(truth)
    reported = gaps(records)
    assert reported and reported == [(s, e) for s, e, _ in sim.truth_gaps("52800001", since, until)]


def test_data_rtr500_waits_for_the_same_request_budget_as_data(world, serve):
    sim = TandDSimulator(world, data_requests_per_window=3, data_request_window=1.0)
    client = make_client(sim, serve)
    client.page_size = 50
    device = next(d for d in client.devices() if d.vendor_id == "52830001")
    started = time.monotonic()
    records = list(client.history(device, NOW - DAY, NOW))  # 144 readings: 3 pages and the reading before
    assert time.monotonic() - started >= 0.9
    assert sim.rate_limit_refusals == 0
    assert as_tuples(records) == as_tuples(sim.truth_readings("52830001", NOW - DAY, NOW))


def test_a_unit_without_a_history_api_gives_its_current_value_and_asks_nothing_more(client, sim):
    device = next(d for d in client.devices() if d.vendor_id == RTR500_REMOTE)
    assert device.current_value_only
    seen = requests_seen(client)
    records = list(client.history(device, NOW - DAY, NOW))
    truth = sim.truth_current(RTR500_REMOTE)
    assert len(truth) == 1 and truth[0].timestamp == device.last_seen
    assert as_tuples(records) == as_tuples(truth)
    assert seen == []
    # A period that does not hold the current value's time holds nothing.
    assert list(client.history(device, NOW - 3 * DAY, NOW - 2 * DAY)) == []


def test_a_remote_that_data_rtr500_refuses_is_current_value_only_and_asked_again_a_day_later(client, sim):
    from vendors.clients.tandd import REFUSED_HISTORY_RECHECK

    device = next(d for d in client.devices() if d.vendor_id == FTP_REMOTE)
    assert not device.current_value_only  # /current shows nothing of its FTP uploads
    records = list(client.history(device, NOW - DAY, NOW))
    assert as_tuples(records) == as_tuples(sim.truth_current(FTP_REMOTE)) != []
    assert sim.statuses[400] == 1
    again = next(d for d in client.devices() if d.vendor_id == FTP_REMOTE)
    assert again.current_value_only
    seen = requests_seen(client)
    assert as_tuples(client.history(again, NOW - DAY, NOW)) == as_tuples(records)
    assert seen == [] and sim.statuses[400] == 1
    session = client.session_store.load()
    session["history_refused"][FTP_REMOTE] -= REFUSED_HISTORY_RECHECK + 1
    client.session_store.save(session)
    assert not next(d for d in client.devices() if d.vendor_id == FTP_REMOTE).current_value_only


# -- parsers ---------------------------------------------------------------------------------------


def test_it_accepts_both_spellings_of_the_time_offsets():
    hyphen = parse_time_offsets({"time-diff": "540", "std-bias": 0, "dst-bias": "60"})
    underscore = parse_time_offsets({"time_diff": 540, "std_bias": "0", "dst_bias": 60})
    assert hyphen == underscore
    assert (hyphen.time_diff, hyphen.std_bias, hyphen.dst_bias) == (540, 0, 60)
    assert parse_time_offsets({}).time_diff is None


def test_a_value_that_is_not_a_finite_number_is_an_error_never_a_temperature():
    assert parse_value("13.8") == (13.8, "")
    assert parse_value(-4) == (-4.0, "")
    assert parse_value("Sensor Error") == (None, "Sensor Error")
    assert parse_value("NaN") == (None, "NaN")
    assert parse_value("inf") == (None, "inf")
    assert parse_value(None) == (None, "no value")


_ODD_VALUES = [
    "4.4",
    " -3.25 ",
    "1e3",
    "1_000",
    "0012",
    "²",
    "٣",
    "-0",
    "+7",
    "nan",
    "-inf",
    "1e999",
    "Sensor Error",
    "",
    4,
    -4.5,
    2**70,
    True,
    None,
    [1],
    {"v": 1},
    float("nan"),
]


@pytest.mark.parametrize("raw", _ODD_VALUES, ids=repr)
def test_the_short_path_for_usual_rows_reads_every_value_as_the_general_parser_does(raw):
    from vendors.clients.parsing import finite_number
    from vendors.clients.tandd import _parse_data

    body = {
        "channel": [{"num": 0, "unit": "C"}],
        "data": [{"unixtime": "1793416010", "data-id": "7", "ch1": raw}],
    }
    page = _parse_data(body, "T&D")
    value, error = parse_value(raw)
    assert page.channels["ch1"][1:] == ([value], [error])
    number = finite_number(raw)
    if number is not None and 0 < number < 4e9:  # as a unixtime or a data-id, where datetime can hold it
        body["data"][0].update({"unixtime": raw, "data-id": raw})
        page = _parse_data(body, "T&D")
        assert page.unixtimes == [int(number)]
        assert page.data_ids == [int(number) or None]
    elif number is None:
        body["data"][0]["unixtime"] = raw
        with pytest.raises(ParseError):
            _parse_data(body, "T&D")


def _general(body):
    """What the general parser reads of an answer, in the columns the client yields."""
    from vendors.clients.tandd import _merge, _parse_data

    return _merge([(2**62, _parse_data(body, "T&D"))], None)


@pytest.mark.parametrize("raw", _ODD_VALUES, ids=repr)
def test_the_answer_read_in_columns_is_what_the_general_parser_reads(raw):
    from vendors.clients.tandd import _fast_columns

    usual = [{"unixtime": str(1793416000 + 10 * i), "data-id": str(7 + i), "ch1": f"{i}.5"} for i in range(3)]
    for unit in ("C", "F"):
        body = {
            "channel": [{"num": 0, "unit": unit}],
            "data": [*usual, {**usual[0], "unixtime": "1793416030", "ch1": raw}],
        }
        columns = _fast_columns(body, None, 1793416030)
        assert columns is not None  # odd values do not stop the columns, only their own way of reading
        assert columns == _general(body)
        for key in ("unixtime", "data-id"):
            body["data"][-1] = {**usual[0], "unixtime": "1793416030", key: raw}
            columns = _fast_columns(body, None, 4e9)
            if columns is not None:
                assert columns == _general(body)


def test_an_unusual_answer_is_left_to_the_general_parser():
    from vendors.clients.tandd import _fast_columns

    rows = [
        {"unixtime": str(1793416000 + 10 * i), "data-id": str(7 + i), "ch1": "1.5", "ch2": "50"}
        for i in range(4)
    ]
    body = {"channel": [{"num": 0, "unit": "C"}, {"num": 1, "unit": "%"}], "data": rows}
    assert _fast_columns(body, 1793416000, 1793416030) == _general(body)
    assert _fast_columns(body, 1793416010, 1793416030) is None  # a row before the period
    assert _fast_columns(body, 1793416000, 1793416020) is None  # a row after it
    for unusual in (
        [*rows[:2], rows[3], rows[2]],  # not oldest first
        [*rows[:3], rows[2]],  # a time twice
        [*rows[:3], {k: v for k, v in rows[3].items() if k != "ch2"}],  # a row without a channel
        [*rows[:3], {**rows[3], "unixtime": 1793416030}],  # a unixtime as a number
        [*rows[:3], [1793416030, "1.5"]],  # a row that is not an object
    ):
        assert _fast_columns({**body, "data": unusual}, 1793416000, 1793416030) is None


def test_unusual_pages_are_merged_by_time_keeping_the_newest_pages_row_of_each_time():
    """Pages newest first, overlapping, a time twice, a row without a channel, a row past its page's
    end: each time once, oldest first, the values of the row read first, a missing channel left out."""
    from vendors.clients.tandd import _merge, _parse_data

    channels = [{"num": 0, "unit": "C"}, {"num": 1, "unit": "%"}]
    newest = {
        "channel": channels,
        "data": [
            {"unixtime": "1030", "data-id": "4", "ch1": "4.0", "ch2": "40"},
            {"unixtime": "1020", "data-id": "3", "ch1": "3.0"},  # no humidity
            {"unixtime": "1020", "data-id": "3", "ch1": "9.9", "ch2": "99"},  # the same time again
            {"unixtime": "1040", "data-id": "5", "ch1": "5.0", "ch2": "50"},  # past the end asked
        ],
    }
    older = {
        "channel": channels,
        "data": [
            {"unixtime": "1020", "data-id": "3", "ch1": "7.7", "ch2": "77"},  # the newest page has it
            {"unixtime": "1010", "data-id": "2", "ch1": "2.0", "ch2": "20"},
            {"unixtime": "1000", "data-id": "1", "ch1": "1.0", "ch2": "10"},  # before the start
        ],
    }
    merged = _merge([(1030, _parse_data(newest, "T&D")), (1019, _parse_data(older, "T&D"))], 1005)

    assert merged.unixtimes == [1010, 1020, 1030]
    assert merged.data_ids == [2, 3, 4]
    times, values, errors = merged.channels["ch1"]
    assert [t.timestamp() for t in times] == [1010, 1020, 1030]
    assert values == [2.0, 3.0, 4.0]
    times, values, errors = merged.channels["ch2"]
    assert [t.timestamp() for t in times] == [1010, 1030]
    assert values == [20.0, 40.0]
    assert merged.rows is None


@pytest.mark.parametrize("unusual_from", [0, 1], ids=["every answer unusual", "from the second answer"])
def test_answers_newest_first_still_give_every_reading_once(sim, serve, monitored_select_times, unusual_from):
    """Answers the columns cannot take as they are (here: rows newest first) go the general way."""
    client = make_client(sim, serve)
    client.page_size = 50
    monitored_select_times(reverse_from=unusual_from)
    device = next(d for d in client.devices() if d.vendor_id == "52140001")
    records = list(client.history(device, NOW - DAY, NOW))  # 144 readings: 3 pages and the reading before
    assert as_tuples(readings(records)) == as_tuples(sim.truth_readings("52140001", NOW - DAY, NOW))
    assert gaps(records) == [(s, e) for s, e, _ in sim.truth_gaps("52140001", NOW - DAY, NOW)]


@pytest.fixture
def monitored_select_times(sim, monkeypatch):
    def reverse(reverse_from: int):
        original = sim.select_times
        calls = []

        def select_times(*args):
            calls.append(args)
            times = original(*args)
            return times[::-1] if len(calls) > reverse_from else times

        monkeypatch.setattr(sim, "select_times", select_times)

    return reverse


def test_garbage_collection_resumes_after_an_answer_whatever_happened():
    import gc

    from vendors.clients.parsing import paused_garbage_collection

    assert gc.isenabled()
    with paused_garbage_collection():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ParseError), paused_garbage_collection():
        raise ParseError("T&D: a data row has no unixtime")
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_garbage_collection():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


# -- rate limits -----------------------------------------------------------------------------------


def test_it_waits_for_the_request_budget_instead_of_earning_a_429(world, serve):
    sim = TandDSimulator(world, data_requests_per_window=3, data_request_window=1.0)
    client = make_client(sim, serve)
    client.page_size = 50
    device = next(d for d in client.devices() if d.vendor_id == "52140001")
    since, until = NOW - DAY, NOW
    started = time.monotonic()
    records = list(client.history(device, since, until))  # 144 readings: 3 pages and the reading before
    assert time.monotonic() - started >= 0.9  # it waited for the window to reset
    assert sim.rate_limit_refusals == 0
    assert as_tuples(records) == as_tuples(sim.truth_readings("52140001", since, until))


def test_it_waits_for_the_readings_budget_instead_of_earning_a_429(world, serve):
    sim = TandDSimulator(world, data_readings_per_window=100, data_readings_window=1.0)
    client = make_client(sim, serve)
    device = next(d for d in client.devices() if d.vendor_id == "52140001")
    since, until = NOW - DAY, NOW
    records = list(client.history(device, since, until))
    assert sim.rate_limit_refusals == 0
    assert as_tuples(records) == as_tuples(sim.truth_readings("52140001", since, until))


@pytest.mark.django_db
def test_it_tells_the_shared_rate_limiter_when_the_budget_is_spent(world, serve):
    from vendors.ratelimit import RateLimiter

    sim = TandDSimulator(world, data_requests_per_window=2, data_request_window=1.0)
    limiter = RateLimiter()
    client = make_client(sim, serve, rate_limiter=limiter, account_key="acct-1")
    client.page_size = 72
    device = next(d for d in client.devices() if d.vendor_id == "52140001")
    # 144 readings: two full pages, an empty one and the reading before: two windows of two requests.
    records = list(client.history(device, NOW - DAY, NOW))
    assert sim.rate_limit_refusals == 0
    assert len(records) == 288
    assert limiter.blocked_for("tandd:acct-1:52140001") > 0  # the last answer spent the budget


def test_a_burst_of_429_gets_a_clean_back_off(world, serve):
    sim = TandDSimulator(world, data_request_window=1.0, current_request_window=1.0)
    client = make_client(sim, serve)
    device = next(d for d in client.devices() if d.vendor_id == "52140001")
    sim.faults.update(burst_429=2)
    records = list(client.history(device, NOW - DAY, NOW))
    assert as_tuples(records) == as_tuples(sim.truth_readings("52140001", NOW - DAY, NOW))


def test_a_429_that_does_not_end_raises_rate_limited_after_bounded_retries(world, serve):
    sim = TandDSimulator(world, current_request_window=1.0)
    client = make_client(sim, serve)
    sim.faults.update(burst_429=100)
    served_before = sim.requests_served
    with pytest.raises(RateLimited) as caught:
        client.devices()
    assert caught.value.retry_after and caught.value.retry_after >= 1
    assert sim.requests_served - served_before == client.retries_after_429 + 1


def test_a_wait_longer_than_max_wait_raises_rate_limited_at_once(world, serve):
    sim = TandDSimulator(world, data_requests_per_window=1)  # one request a minute
    client = make_client(sim, serve)
    client.page_size = 10
    device = next(d for d in client.devices() if d.vendor_id == "52140001")
    client.max_wait = 5
    with pytest.raises(RateLimited) as caught:
        list(client.history(device, NOW - DAY, NOW))
    assert caught.value.retry_after > 5
    assert sim.rate_limit_refusals == 0


# -- faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"error_rate": 1}, UnavailableError),
        ({"malformed_rate": 1}, ParseError),
        ({"truncated_rate": 1}, ParseError),
        ({"credentials": "revoked"}, AuthenticationError),
        ({"credentials": "expired"}, AuthenticationError),
    ],
)
def test_each_fault_ends_in_the_right_error(client, sim, fault, error):
    device = next(d for d in client.devices() if d.vendor_id == "52140001")
    sim.faults.update(**fault)
    with pytest.raises(error):
        client.devices()
    with pytest.raises(error):
        list(client.history(device, NOW - DAY, NOW))


def test_a_hanging_server_ends_in_a_timeout(world, serve):
    sim = TandDSimulator(world)
    client = make_client(sim, serve)
    client.read_timeout = 1
    sim.faults.update(hang_rate=1, hang_seconds=2)
    with pytest.raises(VendorTimeout):
        client.devices()


def test_wrong_credentials_are_an_authentication_error(sim, serve):
    client = make_client(sim, serve)
    client._credentials["login_pass"] = "not-the-password"
    with pytest.raises(AuthenticationError):
        client.devices()


def test_no_secret_appears_in_logs_or_error_messages(sim, serve, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(sim, serve)
    messages = []
    device = next(d for d in client.devices() if d.vendor_id == "52140001")
    list(client.history(device, NOW - DAY, NOW))
    for fault in ({"error_rate": 1}, {"malformed_rate": 1}, {"credentials": "revoked"}, {"burst_429": 100}):
        sim.faults.reset()
        sim.faults.update(**fault)
        client.retries_after_429 = 0
        try:
            client.devices()
        except Exception as exc:  # noqa: BLE001 - every error's message is checked
            messages.append(str(exc))
            messages.append(repr(exc))
    assert len(messages) == 8
    text = "\n".join(messages + [r.getMessage() for r in caplog.records] + [caplog.text, repr(client)])
    for secret in sim.credentials.values():
        assert secret not in text


# -- answers shaped after the public Go client's test resources ----------------------------------
# k28/go-ondotori, test_resources/devices.json, device_data.json and device_data_rtr500.json: values as
# strings, channel num from "1", empty channel names on RTR500B remotes, a kWh channel, "Sensor Error",
# /data offsets with underscores and data-rtr500 offsets with hyphens. Serials and values are ours.

GO_CURRENT = {
    "devices": [
        {
            "num": "1",
            "serial": "3214AB01",
            "model": "TR-72wf",
            "name": "Store room",
            "battery": "5",
            "rssi": "",
            "time_diff": "540",
            "std_bias": "0",
            "dst_bias": "60",
            "unixtime": "1617526828",
            "channel": [
                {"num": "1", "name": "Temp", "value": "13.8", "unit": "C"},
                {"num": "2", "name": "Humi", "value": "69", "unit": "%"},
            ],
            "baseunit": {"serial": "3214AB01", "model": "TR-72wf", "name": "Store room"},
            "group": {"num": "0", "name": "Ground floor"},
        },
        {
            "num": "1",
            "serial": "5234AB02",
            "model": "TR-71wb",
            "name": "Above the heater",
            "battery": "1",
            "rssi": "",
            "time_diff": "540",
            "std_bias": "0",
            "dst_bias": "0",
            "unixtime": "1617520800",
            "channel": [
                {"num": "1", "name": "temp", "value": "26.4", "unit": "C"},
                {"num": "2", "name": "Ch.2", "value": "Sensor Error", "unit": "C"},
            ],
            "baseunit": {"serial": "5234AB02", "model": "TR-71wb", "name": "Above the heater"},
            "group": {"num": "0", "name": ""},
        },
        {
            "num": "2",
            "serial": "5282AB03",
            "model": "RTR502B",
            "name": "Entrance",
            "battery": "5",
            "rssi": "5",
            "time_diff": "540",
            "std_bias": "0",
            "dst_bias": "0",
            "unixtime": "1617526993",
            "channel": [{"num": "1", "name": "", "value": "20.8", "unit": "C"}],
            "baseunit": {"serial": "5858AB00", "model": "RTR500BW", "name": "Home base"},
            "group": {"num": "1", "name": "1F"},
        },
        {
            "num": "4",
            "serial": "52C3AB04",
            "model": "RTR505B-V",
            "name": "Power use",
            "battery": "5",
            "rssi": "5",
            "time_diff": "540",
            "std_bias": "0",
            "dst_bias": "0",
            "unixtime": "1617526799",
            "channel": [{"num": "1", "name": "", "value": "1.45760", "unit": "kWh"}],
            "baseunit": {"serial": "5858AB00", "model": "RTR500BW", "name": "Home base"},
            "group": {"num": "1", "name": "Group1"},
        },
        {
            "num": "1",
            "serial": "582CAB05",
            "model": "TR41",
            "name": "Car",
            "battery": "5",
            "rssi": "",
            "time_diff": "540",
            "std_bias": "0",
            "dst_bias": "0",
            "unixtime": "1617428258",
            "channel": [{"num": "1", "name": "Temp", "value": "32.4", "unit": "C"}],
            "baseunit": {"serial": "582CAB05", "model": "TR41", "name": "Car"},
            "group": {"num": "0", "name": ""},
        },
    ]
}

GO_DATA_RTR500 = {
    "remote-serial": "5280AB06",
    "remote-model": "RTR501B",
    "remote-name": "Outside",
    "base-serial": "5858AB00",
    "base-model": "RTR500BW",
    "base-name": "Home base",
    "time-diff": "540",
    "std-bias": "60",
    "dst-bias": "30",
    "channel": [{"name": "ch1", "num": "1", "unit": "C"}],
    "data": [
        {"unixtime": "1619463974", "data-id": "34165", "ch1": "0.6"},
        {"unixtime": "1619464574", "data-id": "34166", "ch1": "0.5"},
        {"unixtime": "1619465174", "data-id": "34169", "ch1": "0.4"},
    ],
}

GO_DATA = {
    "serial": "5236AB07",
    "model": "TR-72wb",
    "name": "Living room",
    "time_diff": "540",
    "std_bias": "60",
    "dst_bias": "30",
    "channel": [{"num": "1", "name": "temp", "unit": "C"}, {"num": "2", "name": "humidity", "unit": "%"}],
    "data": [
        {"unixtime": "1619040000", "data-id": "20659", "ch1": "23.2", "ch2": "25"},
        {"unixtime": "1619040600", "data-id": "20660", "ch1": "22.7", "ch2": "27"},
    ],
}


def offline_client() -> TandDClient:
    """A client that never sends anything: for the parsers alone."""
    return TandDClient(
        base_url="http://127.0.0.1:9", credentials={"api_key": "k", "login_id": "l", "login_pass": "p"}
    )


def test_the_units_of_a_current_answer_as_public_clients_see_it():
    devices = {item["serial"]: offline_client()._device(item, {}) for item in GO_CURRENT["devices"]}
    store = devices["3214AB01"]
    assert [(c.name, c.quantity, c.unit, c.label) for c in store.channels] == [
        ("ch1", "temperature", "C", "Temp"),
        ("ch2", "humidity", "%RH", "Humi"),
    ]
    assert store.extra["current"]["ch2"]["value"] == 69.0 and store.group == "Ground floor"
    assert store.extra["history"] == "/v1/devices/data" and store.extra["time_diff"] == 540
    heater = devices["5234AB02"]
    assert heater.extra["current"]["ch2"] == {"label": "Ch.2", "value": None, "error": "Sensor Error"}
    assert heater.group is None and heater.battery == 20.0
    entrance = devices["5282AB03"]
    assert (
        entrance.extra["history"] == "/v1/devices/data-rtr500" and entrance.extra["base_serial"] == "5858AB00"
    )
    assert [(c.name, c.label) for c in entrance.channels] == [("ch1", "Channel 1 (°C)")]
    power = devices["52C3AB04"]
    assert [(c.name, c.quantity, c.unit, c.label) for c in power.channels] == [
        ("ch1", "other", "kWh", "Channel 1 (kWh)")
    ]
    assert power.extra["current"]["ch1"]["value"] == 1.4576
    assert devices["582CAB05"].extra["history"] == "/v1/devices/data"
    assert not any(d.current_value_only for d in devices.values())


@pytest.mark.parametrize(
    ("model", "base_serial", "base_model", "history"),
    [
        ("TR-72wf", "itself", "TR-72wf", "/v1/devices/data"),  # its own base
        ("TR-71nw", "", "", "/v1/devices/data"),  # no base unit at all
        ("TR41A", "itself", "TR41A", "/v1/devices/data"),
        ("TR32B", "itself", "TR32B", "/v1/devices/data"),
        ("RTR501B", "58580001", "RTR500BW", "/v1/devices/data-rtr500"),
        ("RTR505B-V", "58580001", "RTR500BM", "/v1/devices/data-rtr500"),
        ("RTR502BL", "58580001", "", "/v1/devices/data-rtr500"),  # a B remote of a base not named
        ("RTR502B", "58580001", "RTR500BC", None),  # data-rtr500 does not serve an RTR500BC's remotes
        ("RTR-502", "50000001", "RTR-500NW", None),  # RTR-500 (not B)
        ("RTR-574", "50000001", "RTR-500MBS", None),
        ("TR-72W", "itself", "TR-72W", None),  # TR-700W series
        ("TR-71W", "", "", None),
    ],
)
def test_which_history_a_unit_has_follows_the_official_model_table(model, base_serial, base_model, history):
    from vendors.clients.tandd import history_path

    serial = "52500001"
    base = {"serial": serial if base_serial == "itself" else base_serial, "model": base_model}
    assert history_path({"serial": serial, "model": model, "baseunit": base}) == history


def test_a_data_rtr500_answer_is_read_by_channel_number_in_columns_and_rows_alike():
    from vendors.clients.tandd import _fast_columns, _gaps

    columns = _fast_columns(GO_DATA_RTR500, 1619463974, 1619465174)
    assert columns is not None and columns == _general(GO_DATA_RTR500)
    assert list(columns.channels) == ["ch1"]
    assert columns.channels["ch1"][1] == [0.6, 0.5, 0.4]
    assert columns.data_ids == [34165, 34166, 34169]
    (gap,) = _gaps("5280AB06", None, columns.data_ids, columns.timestamps)
    assert "2 readings missing" in gap.reason


def test_a_data_answer_with_underscored_offsets_and_numbers_from_1_is_read_alike():
    from vendors.clients.tandd import _fast_columns

    columns = _fast_columns(GO_DATA, None, 1619040600)
    assert columns is not None and columns == _general(GO_DATA)
    assert {key: values for key, (_, values, _) in columns.channels.items()} == {
        "ch1": [23.2, 22.7],
        "ch2": [25.0, 27.0],
    }
    assert parse_time_offsets(GO_DATA).time_diff == 540


def test_channel_numbers_from_0_as_the_document_shows_them_key_the_same_channels():
    from vendors.clients.tandd import numbered_channels

    document = [{"num": 1, "name": "humid"}, {"num": 0, "name": "temp"}]
    real = [{"num": "1", "name": "temp"}, {"num": "2", "name": "humid"}]
    assert [(n, c["name"]) for n, c in numbered_channels(document)] == [(1, "temp"), (2, "humid")]
    assert [(n, c["name"]) for n, c in numbered_channels(real)] == [(1, "temp"), (2, "humid")]
    unreadable = [{"num": "x", "name": "a"}, {"name": "b"}]
    assert [(n, c["name"]) for n, c in numbered_channels(unreadable)] == [(1, "a"), (2, "b")]


def test_the_simulators_data_rtr500_answers_take_the_fast_column_path(sim, serve):
    """Both history endpoints answer alike: the usual answers of data-rtr500 are read in columns too."""
    from vendors.clients.tandd import _fast_columns

    server = serve(sim)
    start, end = int((NOW - DAY).timestamp()), int(NOW.timestamp())
    body = {k.replace("_", "-"): v for k, v in sim.credentials.items()}
    for path, params in (
        ("/v1/devices/data-rtr500", {"remote-serial": "52870001", "base-serial": "58580001"}),
        ("/v1/devices/data", {"remote-serial": "52140001", "temperature-unit": "C"}),
    ):
        answer = requests.post(
            server.base_url("tandd") + path,
            json={**body, **params, "unixtime-from": start, "unixtime-to": end},
            headers={"X-HTTP-Method-Override": "GET"},
            timeout=10,
        ).json()
        columns = _fast_columns(answer, start, end)
        assert columns is not None and len(columns.unixtimes) == 144
        assert columns == _general(answer)
