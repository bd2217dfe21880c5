"""The T&D WebStorage client, over real HTTP against the simulator."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest

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


def test_it_lists_every_logger_with_channels_battery_group_and_last_seen(client):
    devices = {d.vendor_id: d for d in client.devices()}
    assert list(devices) == ["52140001", "52120001", "52120002", "52120003", "52120004"]
    ambient = devices["52140001"]
    assert ambient.name == "Warehouse ambient" and ambient.kind == "fixed"
    assert [(c.name, c.quantity, c.unit) for c in ambient.channels] == [
        ("ch1", "temperature", "C"),
        ("ch2", "humidity", "%RH"),
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
    (row,) = _parse_data(body, "T&D")
    assert row.values == (("ch1", *parse_value(raw)),)
    number = finite_number(raw)
    if number is not None and 0 < number < 4e9:  # as a unixtime or a data-id, where datetime can hold it
        body["data"][0].update({"unixtime": raw, "data-id": raw})
        (row,) = _parse_data(body, "T&D")
        assert row.unixtime == int(number)
        assert row.data_id == (int(number) or None)
    elif number is None:
        body["data"][0]["unixtime"] = raw
        with pytest.raises(ParseError):
            _parse_data(body, "T&D")


def _general(body):
    """What the general parser reads of an answer, in the columns the client yields."""
    from vendors.clients.tandd import _columns_of_rows, _parse_data

    return _columns_of_rows(_parse_data(body, "T&D"))


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
