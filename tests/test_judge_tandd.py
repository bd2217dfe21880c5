"""An independent judge of the T&D simulator: the public ``ondotori-client`` library (written by others, on
PyPI) reads it over real HTTP and must get the simulator's truth back: current values, data, data-rtr500.

The library has no setting for its host: its URLs are fixed class constants (``https://api.webstorage.jp``).
It does take a ``requests.Session`` (its public ``session`` argument), so the least intrusive way to point it
at the simulator is a session whose transport sends what the library asks of that host to the simulator on
loopback: nothing of the library is patched, and every request and answer goes over HTTP as it would to
T&D's cloud.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from ondotori_client import APIError, AuthenticationError, OndotoriClient
from requests.adapters import HTTPAdapter

from tests.conftest import FIXED_NOW
from vendors.simulators.tandd import TandDSimulator

VENDOR_HOST = "https://api.webstorage.jp"  # where the library sends everything
NOW = FIXED_NOW
DAY = timedelta(days=1)
WAREHOUSE_BASE = "58580001"


class ToSimulator(HTTPAdapter):
    """Sends a request for the vendor's host to the simulator instead (the host part only changes)."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url

    def send(self, request, **kwargs):
        request.url = self.base_url + request.url.removeprefix(VENDOR_HOST)
        return super().send(request, **kwargs)


@pytest.fixture
def sim(world):
    return TandDSimulator(world)


@pytest.fixture
def judge(sim, serve):
    server = serve(sim)
    session = requests.Session()
    session.mount(VENDOR_HOST, ToSimulator(server.base_url("tandd")))
    credentials = sim.credentials
    client = OndotoriClient(
        config={
            "api_key": credentials["api_key"],
            "login_id": credentials["login_id"],
            "login_pass": credentials["login_pass"],
            "bases": {"warehouse": {"serial": WAREHOUSE_BASE}},
            "remote_map": {
                "cold_room_b": {"serial": "52870001", "type": "rtr500", "base": "warehouse"},
                "pressure_signal": {"serial": "52830001", "type": "rtr500", "base": "warehouse"},
                "ambient": {"serial": "52140001", "type": "default"},
            },
        },
        session=session,
        retries=1,
    )
    yield client
    client.close()


def values_by_time(records, channel: str) -> dict:
    return {r.timestamp: r.require_channel(channel).numeric_value for r in records}


def truth_by_time(sim, serial: str, channel: str, since, until) -> dict:
    return {r.timestamp: r.value for r in sim.truth_readings(serial, since, until) if r.channel == channel}


@pytest.mark.parametrize("serial", ["52140001", "52870001", "52830001", "50250001"])
def test_the_library_reads_each_units_current_values_as_the_simulator_holds_them(judge, sim, serial):
    record = judge.get_current_record(serial)
    assert record.remote_serial == serial
    truth = sim.truth_current(serial)
    assert truth and {r.timestamp for r in truth} == {record.timestamp}
    for reading in truth:
        assert record.require_channel(reading.channel).numeric_value == reading.value


def test_the_library_reads_temperature_and_humidity_of_a_logger(judge, sim):
    reading = judge.get_current_temperature_humidity("ambient")
    truth = {r.channel: r.value for r in sim.truth_current("52140001")}
    assert (reading.temperature_c, reading.humidity_percent) == (truth["ch1"], truth["ch2"])


def test_the_library_reads_the_channel_units_and_the_empty_names_of_a_remote(judge):
    raw = judge.get_current("cold_room_b")
    (device,) = raw["devices"]  # the library filters /current by its remote-serial array
    assert device["baseunit"]["serial"] == WAREHOUSE_BASE
    record = judge.get_current_record("pressure_signal")
    (channel,) = record.channels
    assert (channel.key, channel.unit, channel.name) == ("ch1", "V", None)  # an empty name reads as none


def test_the_library_reads_a_days_data_of_a_logger(judge, sim):
    since, until = NOW - DAY, NOW
    records = judge.get_data_records("ambient", dt_from=since, dt_to=until)
    for channel in ("ch1", "ch2"):
        assert values_by_time(records, channel) == truth_by_time(sim, "52140001", channel, since, until)
    newest = judge.get_data_records("ambient", dt_from=since, dt_to=until, count=10)
    assert [r.timestamp for r in newest] == [r.timestamp for r in records][-10:]


def test_the_library_reads_the_data_of_rtr500b_remote_units_through_data_rtr500(judge, sim):
    since, until = NOW - DAY, NOW
    records = judge.get_data_records("cold_room_b", dt_from=since, dt_to=until)
    assert len(records) == 144
    for channel in ("ch1", "ch2"):
        assert values_by_time(records, channel) == truth_by_time(sim, "52870001", channel, since, until)
    volts = judge.get_data_records("pressure_signal", dt_from=since, dt_to=until)
    assert values_by_time(volts, "ch1") == truth_by_time(sim, "52830001", "ch1", since, until)
    assert {r.require_channel("ch1").unit for r in volts} == {
        None
    }  # data rows carry no unit: the header does
    raw = judge.get_data("pressure_signal", dt_from=since, dt_to=until)
    assert raw["channel"] == [{"name": "ch1", "num": "1", "unit": "V"}]


def test_the_library_reads_the_latest_data_of_a_remote_unit(judge, sim):
    records = judge.get_latest_records("cold_room_b")
    assert records
    truth = truth_by_time(sim, "52870001", "ch1", records[0].timestamp, records[-1].timestamp)
    assert values_by_time(records, "ch1") == truth


def test_the_library_meets_the_vendors_refusals(judge, sim):
    with pytest.raises(APIError) as refused:
        judge.get_data("52870001", hours=1, device_type="default")  # a remote unit asked on /data
    assert refused.value.status_code == 400
    wrong = OndotoriClient(
        api_key=sim.credentials["api_key"],
        login_id=sim.credentials["login_id"],
        login_pass="not-the-password",
        session=judge.session,
        retries=1,
    )
    with pytest.raises(AuthenticationError):
        wrong.get_current("52140001")
