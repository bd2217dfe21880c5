"""The ingest of readings: exactly once, in time order, never a non-number stored as a temperature.

Readings arrive one record each or, from a client that reads them in bulk, as a ``ReadingBatch`` (one
channel's readings in columns). Both must store the same thing, whatever shape the batch is in.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring.ingest import ingest_readings
from monitoring.models import Channel, Device, Reading
from tests.conftest import FIXED_NOW
from tests.factories import make_account
from vendors.clients.records import ReadingBatch, ReadingRecord, batches_of

T = [FIXED_NOW + timedelta(minutes=10 * i) for i in range(6)]


@pytest.fixture
def device(db):
    account = make_account(slug="tandd", credentials={"api_key": "k", "login_id": "l", "login_pass": "p"})
    device = Device.objects.create(account=account, vendor_id="52120004", name="Freezer 4")
    Channel.objects.create(device=device, name="ch1", quantity="temperature", unit="C")
    Channel.objects.create(device=device, name="ch2", quantity="humidity", unit="%RH")
    return device


def stored(device, channel="ch1") -> list[tuple]:
    return list(
        Reading.objects.filter(channel__device=device, channel__name=channel)
        .order_by("timestamp")
        .values_list("timestamp", "value", "error")
    )


def batch(timestamps, values, errors=None, channel="ch1") -> ReadingBatch:
    return ReadingBatch(
        "52120004", channel, list(timestamps), list(values), list(errors or [""] * len(values))
    )


def as_records(b: ReadingBatch) -> list[ReadingRecord]:
    return list(b.records())


@pytest.mark.parametrize("shape", ["batch", "records"])
def test_readings_out_of_order_with_repeated_times_are_stored_once_each_the_first_value_kept(device, shape):
    readings = batch([T[2], T[0], T[2], T[1]], [2.0, 0.0, 99.0, 1.0])
    new = ingest_readings(device, [readings] if shape == "batch" else batches_of(as_records(readings)))
    assert stored(device) == [(T[0], 0.0, ""), (T[1], 1.0, ""), (T[2], 2.0, "")]
    channel = Channel.objects.get(device=device, name="ch1")
    assert new.count == 3 and new.spans == {channel.pk: (T[0], T[2])}
    assert (channel.last_reading_at, channel.last_value) == (T[2], 2.0)


@pytest.mark.parametrize("shape", ["batch", "records"])
def test_a_value_that_is_not_a_finite_number_is_stored_as_an_error_never_as_a_temperature(device, shape):
    readings = batch(
        T[:6],
        [float("nan"), float("inf"), None, 21.5, 5.0, 7],
        ["", "", "", "", "Sensor Error", ""],
    )
    ingest_readings(device, [readings] if shape == "batch" else batches_of(as_records(readings)))
    assert stored(device) == [
        (T[0], None, "invalid value"),
        (T[1], None, "invalid value"),
        (T[2], None, "invalid value"),
        (T[3], 21.5, ""),
        (T[4], None, "Sensor Error"),
        (T[5], 7.0, ""),
    ]


def test_batches_and_records_of_one_channel_together_are_stored_once_each(device):
    first = batch([T[0], T[1]], [0.0, 1.0])
    again = batch([T[1], T[2]], [11.0, 2.0])
    late = ReadingRecord("52120004", "ch1", T[3], 3.0)
    humidity = batch([T[0], T[1]], [55.0, 56.0], channel="ch2")
    new = ingest_readings(
        device, [first, humidity, again, *batches_of([late, ReadingRecord("52120004", "ch1", T[0], 9.0)])]
    )
    assert stored(device) == [(T[0], 0.0, ""), (T[1], 1.0, ""), (T[2], 2.0, ""), (T[3], 3.0, "")]
    assert stored(device, "ch2") == [(T[0], 55.0, ""), (T[1], 56.0, "")]
    assert new.count == 6


def test_a_batch_over_stored_readings_adds_only_the_new_ones(device):
    ingest_readings(device, [batch(T[:3], [0.0, 1.0, 2.0])])
    new = ingest_readings(device, [batch(T[1:6], [10.0, 20.0, 3.0, 4.0, 5.0])])
    assert new.count == 3
    assert list(new.spans.values()) == [(T[3], T[5])]
    assert [value for _, value, _ in stored(device)] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert ingest_readings(device, [batch(T[:6], [0.0] * 6)]).count == 0


def test_a_batch_whose_columns_differ_in_length_is_refused_and_nothing_is_stored(device):
    broken = ReadingBatch("52120004", "ch1", T[:3], [1.0, 2.0], ["", "", ""])
    with pytest.raises(ValueError, match="differ in length"):
        ingest_readings(device, [batch(T[3:5], [3.0, 4.0], channel="ch2"), broken])
    assert not Reading.objects.filter(channel__device=device).exists()


def test_a_reading_of_an_unknown_channel_is_refused(device):
    with pytest.raises(ValueError, match="unknown channel 'ch9'"):
        ingest_readings(device, [batch(T[:2], [1.0, 2.0], channel="ch9")])
    assert not Reading.objects.filter(channel__device=device).exists()


@pytest.mark.parametrize("odd", [float("nan"), float("inf"), -float("inf")], ids=repr)
def test_a_batch_of_plain_floats_with_one_that_is_not_finite_stores_that_one_as_an_error(device, odd):
    ingest_readings(device, [batch(T[:3], [1.0, odd, 3.0])])
    assert stored(device) == [(T[0], 1.0, ""), (T[1], None, "invalid value"), (T[2], 3.0, "")]
